"""The API's routers, one module per resource, each with its schemas."""
