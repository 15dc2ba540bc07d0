"""Quality assessment of pipeline products from their contents.

Public surface::

    from dsa110_contimg.qa import ImageQA, QAThresholds, image_qa, robust_rms
"""

from dsa110_contimg.qa.image_qa import ImageQA, QAThresholds, image_qa, robust_rms

__all__ = ["ImageQA", "QAThresholds", "image_qa", "robust_rms"]
