"""The embedded ``scenes-cir`` benchmark: composed image retrieval on edited scenes, and its model.

A plug-in package beside the scenes benchmark it builds on (through the public names of
``qshift.data.scenes`` and ``qshift.encoders.scenes``): the registry names its dataset
(``scenes-cir[:<split>]``), encoder (``scenes-cir[:<weights>]``) and suites
(``scenes-cir-image``, ``scenes-cir-text``), and nothing outside it imports its modules.

- ``edits``: scene descriptions and the edits (colour, shape, size, position, add, remove)
- ``words``, ``texts``: modification texts in the training style and five held-out styles
- ``triplets``: families of a reference and six variants, deterministic from a seed
- ``dataset``: the splits as datasets of the ``cir`` task (``load_spec`` for the registry)
- ``model``: the scenes towers plus a Combiner (``load_spec`` for the registry)
- ``pretrain``: ``qshift pretrain scenes-cir``, the recipe that trains the Combiner
- ``suites``: the bench suites
- ``assets``: the shipped Combiner weights and their JSON
"""
