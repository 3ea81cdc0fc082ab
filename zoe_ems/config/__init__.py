"""Site-file models (pydantic-settings) and loading; the only place that knows YAML."""

from zoe_ems.config.check import check_config, check_config_main
from zoe_ems.config.loader import ConfigError, ConfigProblem, load_site_config
from zoe_ems.config.model import SiteConfig
from zoe_ems.config.schema import config_schema_json

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "SiteConfig",
    "check_config",
    "check_config_main",
    "config_schema_json",
    "load_site_config",
]
