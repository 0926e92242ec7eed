"""The social-security portal: one entry point to every online service, with its audience, purpose and level.

Server-rendered (works without JavaScript), in Dutch, French and English; the catalogue is data
(:mod:`kruispunt.portal.catalogue`), the login itself is delegated to an OpenID Connect client
(hooks of :func:`kruispunt.portal.web.create_app`).
"""
