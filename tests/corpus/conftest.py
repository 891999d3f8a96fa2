"""The corpus checks live in corpus_common: let pytest explain their asserts."""
import pytest

pytest.register_assert_rewrite("corpus_common")
