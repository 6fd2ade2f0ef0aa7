"""The embedded ``scenes`` benchmark: procedural captioned images and their small source model.

A plug-in package: the registry names its dataset (``scenes``, ``scenes:<split>``) and encoder
(``scenes``, ``scenes:<weights>``) loaders; outside it, only ``qshift pretrain`` and the old import
paths ``qshift.data.scenes`` and ``qshift.encoders.scenes`` (re-exports) import its modules.

- ``generator``: scene content (objects, backgrounds), splits and seeds
- ``render``: a scene as a 224-px RGB image
- ``lexicons``, ``captions``: what each caption says and its wording in the training style and
  the five held-out styles
- ``dataset``: the splits as retrieval datasets (``load_spec`` for the registry)
- ``negatives``: hard-negative captions with one attribute made false
- ``vit``, ``text_head``, ``model``: the source model (``load_spec`` for the registry)
- ``pretrain``: ``qshift pretrain scenes``, the recipe that trains it
- ``assets``: the shipped weights and their JSON config
"""
