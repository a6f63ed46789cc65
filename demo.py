"""make demo: python demo.py [--minutes 10] [--outdir demo-out] (see apps/demo.py)."""

from apps.demo import run

if __name__ == "__main__":
    run()
