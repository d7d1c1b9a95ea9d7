"""A Python fill model for the service tests, registered at import (SERVICE_MODEL_MODULES=slow_model):
`slow:load_s=S` takes S seconds to load (readiness), and each call sleeps red(0, 0) / 50 seconds,
so a photo's top-left pixel sets how long its fill takes (backpressure, deadlines, shutdown)."""
import time

import numpy as np

import inpaint


class SlowFill:
    def __init__(self, load_s: str = "2"):
        time.sleep(float(load_s))

    def inpaint(self, image, mask, prompt):
        time.sleep(int(image[0, 0, 0]) / 50.0)
        out = np.array(image)
        out[mask > 127] = 128
        return out


inpaint.register_model("slow", SlowFill, "sleeps to load and per call (service tests)")
