"""A synthetic nation for kruispunt: people with valid INSZ, households, addresses, deceased people and
non-residents with bis numbers, drawn from Statbel tables and deterministic by seed.

See :mod:`kruispunt.simulate.population` for the determinism contract, :mod:`kruispunt.simulate.employers`
for the employers and :mod:`kruispunt.simulate.lives` for the files the social-security sources hold.
"""

from kruispunt.simulate.employers import EmployerTable, generate_employers
from kruispunt.simulate.lives import KINDS, LIVES_VERSION, KindInfo, StatusBatch, iter_lives, statuses_for
from kruispunt.simulate.population import (
    BLOCK_SIZE,
    CIVIL_STATES,
    GENERATOR_VERSION,
    NATIONALITIES,
    REFERENCE_DATE,
    RELATIONSHIPS,
    AddressBatch,
    IdentityBatch,
    PopulationBatch,
    generate_population,
    iter_identities,
    iter_population,
    sample_inszs,
)

__all__ = [
    "BLOCK_SIZE",
    "CIVIL_STATES",
    "GENERATOR_VERSION",
    "KINDS",
    "LIVES_VERSION",
    "NATIONALITIES",
    "REFERENCE_DATE",
    "RELATIONSHIPS",
    "AddressBatch",
    "EmployerTable",
    "IdentityBatch",
    "KindInfo",
    "PopulationBatch",
    "StatusBatch",
    "generate_employers",
    "generate_population",
    "iter_identities",
    "iter_lives",
    "iter_population",
    "sample_inszs",
    "statuses_for",
]
