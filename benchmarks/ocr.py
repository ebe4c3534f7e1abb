"""`python -m benchmarks.ocr [SAMPLES_DIR] [VARIANT ...]`: the OCR benchmark, kept as an entry point.

The one implementation is `congvan.pipeline.bench_ocr` (also `congvan bench-ocr`, `make bench-ocr`).
"""
from congvan.pipeline.bench_ocr import main

if __name__ == "__main__":
    main()
