"""Wire schemas: `XCreate` / `XUpdate` request bodies and `XPublic` response objects, never
table classes. Every response is wrapped in `Envelope[...]`."""
