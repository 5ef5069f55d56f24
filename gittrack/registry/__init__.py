"""The model registry on annotated tags: the tag grammar, the one resolver, renumbering."""
