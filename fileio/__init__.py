"""Readers of files from the user's disk that must never run code or guess formats.

restricted_pickle: pickles to plain data through an allow-list; torch_files: torch.save files with
numpy only; images: one image decoder for dataset_tool and metrics. Imports nothing else of the
repo (the bottom layer, beside dataset_tool.records), so tf_stylegan2.legacy, dataset_tool and
metrics all use the same code.
"""
