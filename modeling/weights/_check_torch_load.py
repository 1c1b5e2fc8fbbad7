"""NOT run by CI. Checks with real PyTorch that files encdec writes are what torch writes.

Usage: /usr/bin/python3 modeling/weights/_check_torch_load.py FILE.bin [FILE.bin ...]

For each file: torch.load it (weights_only where this torch has it), print every key with its
dtype and shape and which keys share a storage, then torch.save the loaded state dict to a file
of the same name in a temporary folder and say whether the bytes are identical to FILE.
"""
import os
import sys
import tempfile

import torch


def check(path):
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch < 1.13 has no weights_only
        sd = torch.load(path, map_location="cpu")
    print(f"{path}: torch {torch.__version__}, {type(sd).__name__} of {len(sd)} tensors")
    owners = {}
    for key, t in sd.items():
        ptr = t.storage().data_ptr() if t.numel() > 0 else None  # empty storages have no data
        shared = f"  (storage of {owners[ptr]})" if ptr in owners else ""
        if ptr is not None:
            owners.setdefault(ptr, key)
        print(f"  {key}: {str(t.dtype).replace('torch.', '')} {list(t.shape)}{shared}")
    with tempfile.TemporaryDirectory() as tmp:
        again = os.path.join(tmp, os.path.basename(path))
        torch.save(sd, again)
        with open(path, "rb") as a, open(again, "rb") as b:
            same = a.read() == b.read()
    print(f"  torch.save of the loaded dict is {'byte-identical' if same else 'DIFFERENT'}")
    return same


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    ok = all([check(p) for p in sys.argv[1:]])
    sys.exit(0 if ok else 1)
