"""Conversion of UVH5 subband groups into Measurement Sets."""
