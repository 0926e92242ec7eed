"""The hub: receives consultations (REST/JSON and CBSS SOAP), authorises, routes, filters, logs, answers."""
