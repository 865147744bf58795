"""Live state: code that talks to cloud APIs. Heavy clients are imported only here."""
