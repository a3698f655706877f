"""Who may use the service desk: users and roles, passwords, browser sessions, API
tokens, login throttling and the access audit.  The console, the API and the CLI
(`monitor users`) all go through here."""
