"""Site-file models (pydantic-settings) and loading; the only place that knows YAML."""

from zoe_ems.config.loader import ConfigError, ConfigProblem, load_site_config
from zoe_ems.config.model import SiteConfig

__all__ = ["ConfigError", "ConfigProblem", "SiteConfig", "load_site_config"]
