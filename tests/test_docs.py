"""segbench._docs: the Args: section built from a signature and a family's table, and reading sections back."""

from __future__ import annotations

import doctest

import pytest

from segbench._docs import args_section, document_args, documented, section

TABLE = {"x": "the input.", "k": "how many (a long description that has to wrap " + "over lines " * 12 + ")."}


def test_the_section_lists_every_parameter_in_signature_order_before_the_doctest() -> None:
    @document_args(TABLE, scale="this function's own word.")
    def f(x: int, *, scale: float = 1.0, k: int = 1) -> float:
        """Scale ``x``.

        .. math:: y = s\\,k\\,x

        >>> f(2, scale=0.5, k=3)
        3.0
        """
        return x * scale * k

    doc = f.__doc__ or ""
    assert documented(doc) == ["x", "scale", "k"]
    assert doc.index("Args:") < doc.index(">>>") and doc.index(".. math::") < doc.index("Args:")
    assert "scale: this function's own word." in doc  # own words win over the table's
    assert all(len(line) <= 120 for line in doc.splitlines())
    finder = doctest.DocTestFinder().find(f, "f", globs={"f": f})
    assert doctest.DocTestRunner().run(finder[0]).failed == 0  # the example still runs after the insertion


def test_undocumented_or_stale_parameters_raise_at_decoration() -> None:
    def g(x: int, *, k: int = 1, z: int = 0) -> int:
        """G."""
        return x * k + z

    with pytest.raises(TypeError, match=r"parameters \['z'\] have no description"):
        document_args(TABLE)(g)
    with pytest.raises(TypeError, match=r"described parameters \['w'\] are not among"):
        document_args(TABLE, z="z.", w="gone.")(g)


def test_sections_are_read_back_whole() -> None:
    doc = "F.\n\n    Args:\n        x: one,\n            two.\n        k: three.\n\n    >>> 1\n    1\n"
    assert section(doc, "Args:").splitlines()[-1].strip() == "k: three."
    assert documented(doc) == ["x", "k"] and documented("No sections.") == [] and section("F.", "Args:") == ""
    assert args_section(["x"], TABLE, {}, "  ").splitlines() == ["  Args:", "      x: the input."]
