"""A synthetic nation for kruispunt: people with valid INSZ, households, addresses, deceased people and
non-residents with bis numbers, drawn from Statbel tables and deterministic by seed.

See :mod:`kruispunt.simulate.population` for the determinism contract.
"""

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
    "NATIONALITIES",
    "REFERENCE_DATE",
    "RELATIONSHIPS",
    "AddressBatch",
    "IdentityBatch",
    "PopulationBatch",
    "generate_population",
    "iter_identities",
    "iter_population",
    "sample_inszs",
]
