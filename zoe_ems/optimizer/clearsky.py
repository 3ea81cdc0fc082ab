"""Clear-sky PV shape: solar elevation (NOAA approximation) and Haurwitz clear-sky irradiance.

Pure numpy, no I/O. Accuracy is what a PV forecast scaler needs (sun position within about a degree),
not what an astronomer needs. Never used for anything but forecast shapes.
"""

from __future__ import annotations

import numpy as np

from zoe_ems.optimizer.problem import FloatArray

_HAURWITZ_PEAK_W_M2 = 1098.0 * np.exp(-0.057)
"""Haurwitz irradiance with the sun at the zenith; the PV fraction is relative to this (about 1037 W/m2)."""


def solar_elevation_sin(times_utc: FloatArray, latitude: float, longitude: float) -> FloatArray:
    """Sine of the solar elevation angle at UTC seconds ``times_utc`` for a site (degrees north / east)."""
    days = np.asarray(times_utc, dtype=float) / 86400.0
    day_of_year = (days % 365.2422) + 1.0
    gamma = 2.0 * np.pi / 365.0 * (day_of_year - 1.0)
    declination = (
        0.006918
        - 0.399912 * np.cos(gamma)
        + 0.070257 * np.sin(gamma)
        - 0.006758 * np.cos(2 * gamma)
        + 0.000907 * np.sin(2 * gamma)
        - 0.002697 * np.cos(3 * gamma)
        + 0.00148 * np.sin(3 * gamma)
    )
    equation_of_time_min = 229.18 * (
        0.000075
        + 0.001868 * np.cos(gamma)
        - 0.032077 * np.sin(gamma)
        - 0.014615 * np.cos(2 * gamma)
        - 0.040849 * np.sin(2 * gamma)
    )
    minutes_utc = (days % 1.0) * 1440.0
    solar_minutes = minutes_utc + equation_of_time_min + 4.0 * longitude
    hour_angle = np.deg2rad(solar_minutes / 4.0 - 180.0)
    lat = np.deg2rad(latitude)
    result: FloatArray = np.sin(lat) * np.sin(declination) + np.cos(lat) * np.cos(declination) * np.cos(hour_angle)
    return result


def clear_sky_pv_fraction(times_utc: FloatArray, latitude: float, longitude: float) -> FloatArray:
    """Clear-sky horizontal irradiance as a fraction of its zenith value (0 at night), per time."""
    cos_zenith = solar_elevation_sin(times_utc, latitude, longitude)
    safe = np.maximum(cos_zenith, 1e-3)
    ghi = np.where(cos_zenith > 0.0, 1098.0 * safe * np.exp(-0.057 / safe), 0.0)
    result: FloatArray = ghi / _HAURWITZ_PEAK_W_M2
    return result
