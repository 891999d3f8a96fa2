"""Readable budget quantities: exact values, and clear rejections."""

import pytest

from acecost.errors import AcecostError, ConfigError
from acecost.units import format_count, format_size, parse_count, parse_percent, parse_size_bits


@pytest.mark.parametrize(
    "text, expected",
    [
        ("5e9", 5 * 10**9),
        ("4.2G", 4_200_000_000),
        ("900M", 900_000_000),
        ("1.5k", 1500),
        ("1.5K", 1500),
        ("2T", 2 * 10**12),
        ("1.2e8", 120_000_000),
        ("1_000_000", 10**6),
        (" 7 ", 7),
        ("0", 0),
        ("0.5", 0.5),
        (".5k", 500),
        (12, 12),
        (1.5e9, 1_500_000_000),
    ],
)
def test_counts(text, expected):
    value = parse_count(text)
    assert value == expected
    assert type(value) is type(expected)


def test_count_is_exact_not_a_float_rounding():
    # float("4.1") * 1e9 is 4099999999.9999995; the parser must not inherit that.
    assert 4.1 * 1e9 != 4_100_000_000
    assert parse_count("4.1G") == 4_100_000_000
    assert parse_count("1.005k") == 1005
    assert parse_count("1.0000000001G") == 1_000_000_000.1


@pytest.mark.parametrize(
    "text, bits",
    [
        ("4MB", 4 * 10**6 * 8),
        ("32Mbit", 32 * 10**6),
        ("32Mbits", 32 * 10**6),
        ("1.5GiB", int(1.5 * 2**30 * 8)),
        ("2KiB", 2 * 1024 * 8),
        ("1.5 kB", 1500 * 8),
        ("3 bytes", 24),
        ("1Mbyte", 8 * 10**6),
        ("100B", 800),
        ("32e6", 32 * 10**6),  # bare numbers are bits
        ("8 bit", 8),
        ("1TiB", 2**40 * 8),
        (4096, 4096),
    ],
)
def test_sizes_in_bits(text, bits):
    assert parse_size_bits(text) == bits


@pytest.mark.parametrize("text, pct", [("12%", 12.0), ("2", 2.0), ("0.5 %", 0.5), ("0%", 0.0), (3, 3.0)])
def test_percent(text, pct):
    assert parse_percent(text) == pct


@pytest.mark.parametrize(
    "parse, text, fragment",
    [
        (parse_count, "-5", "must not be negative"),
        (parse_count, "-1.5G", "must not be negative"),
        (parse_count, -3, "must not be negative"),
        (parse_count, "inf", "finite"),
        (parse_count, "-inf", "finite"),
        (parse_count, "NaN", "finite"),
        (parse_count, float("nan"), "finite"),
        (parse_count, float("inf"), "finite"),
        (parse_count, "5X", "unknown suffix 'X'"),
        (parse_count, "4MB", "sizes only"),
        (parse_count, "", "expected a number"),
        (parse_count, "abc", "expected a number"),
        (parse_count, "1.2.3", "expected a number"),
        (parse_count, True, "expected a number"),
        (parse_count, None, "expected a number"),
        (parse_count, "1e99", "too large"),
        (parse_size_bits, "4Mb", "ambiguous"),
        (parse_size_bits, "4XB", "unknown prefix 'X'"),
        (parse_size_bits, "4m", "unknown unit 'm'"),
        (parse_size_bits, "-1MB", "must not be negative"),
        (parse_size_bits, "infMB", "expected a number"),
        (parse_percent, "2 pct", "percentage"),
        (parse_percent, "-2%", "must not be negative"),
        (parse_percent, "nan%", "expected a number"),
    ],
)
def test_bad_values_are_config_errors(parse, text, fragment):
    with pytest.raises(ConfigError) as err:
        parse(text, "--max-x")
    message = str(err.value)
    assert fragment in message
    assert "--max-x" in message  # says which option was wrong
    assert "\n" not in message
    assert isinstance(err.value, AcecostError)


@pytest.mark.parametrize(
    "value, text",
    [(5.1e9, "5.1G"), (5_000_000_000, "5G"), (1_046_831_169_536, "1.05T"),
     (4096, "4.1k"), (1007.8125, "1.01k"), (None, "-"), (-2_500_000, "-2.5M")],
)
def test_format_count(value, text):
    assert format_count(value) == text


@pytest.mark.parametrize(
    "bits, text",
    [(32_000_000, "32Mbit"), (3, "3bit"), (8, "8bit"), (12_000, "12kbit"), (-16_000, "-16kbit"),
     (10**13, "10Tbit")],
)
def test_format_size(bits, text):
    assert format_size(bits) == text


def test_parsed_size_round_trips_through_display():
    assert format_size(parse_size_bits("4MB")) == "32Mbit"  # sizes are written in bits
    assert format_size(parse_size_bits("1.25kB")) == "10kbit"
    for text in ("4MB", "1.25kB", "32Mbit"):  # and what is written reads back as the same size
        assert parse_size_bits(format_size(parse_size_bits(text))) == parse_size_bits(text)
