"""The collector: an HTTP door for web and CRM events (CloudEvents, HubSpot webhooks, the website snippet)."""
