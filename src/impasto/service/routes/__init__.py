"""The API's routes, one router per resource; each receives the service's state through ``Depends``
(:mod:`.deps`). :func:`~impasto.service.app.create_app` includes them all."""
