"""Photos in, tensors out: download, decoding, discovery/split/manifest, decoded-image cache, transforms.

- `images`: `load_rgb`, the one place a photo file becomes an upright RGB image (or a clear error).
- `download`: `ensure_dataset`, fetching or importing the dataset with resume and safe extraction.
- `prepare`: `prepare_dataset`, the single entry point training calls (split, statistics, skips).
- `cache` / `decode`: `DecodedImageStore`, each photo decoded once and kept resized on disk and in memory.
- `datasets`, `transforms`: torch Datasets over the store, and the train/eval presets.
- `plots`: the pictures `landmarks data prepare` draws.

Nothing is imported here, so `import landmarks.data.images` does not pull in torch.
"""
