"""Errors and warnings raised by Northstar's pure domain code.

Hierarchy::

    NorthstarError
    ├── MetricInputError (also ValueError)     bad input to a metric function
    └── ContractError                           a contract that cannot be loaded
        ├── ContractSyntaxError                 YAML that does not parse
        └── ContractValidationError             YAML that parses but breaks the schema

    UndefinedMetricWarning (UserWarning)        a metric is undefined; zero_division decided
"""

from __future__ import annotations


class NorthstarError(Exception):
    """Base class of every error Northstar raises on purpose."""


class MetricInputError(NorthstarError, ValueError):
    """Input to a metric function is malformed (lengths, NaN, labels, counts)."""


class ContractError(NorthstarError):
    """A metric contract could not be loaded."""


class ContractSyntaxError(ContractError):
    """The contract's YAML does not parse."""


class ContractValidationError(ContractError):
    """The contract parses but does not satisfy the schema."""


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined for this input; the ``zero_division`` choice was used."""
