"""SunSpec: model-chain discovery and point access using the official pysunspec2 model definitions."""
