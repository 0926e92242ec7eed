"""The statistical data warehouse labour market and social protection (see :mod:`.schemas` for the flow)."""
