"""The National Register as an authentic source: persons, address history, households (component
``national_register``)."""
