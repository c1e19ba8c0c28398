"""Bringing an app to warmkeeper: `warmkeeper init` and `warmkeeper init --from compose.yaml`.

- ``starter``: a commented warmkeeper.toml for a one-container app, from flags or a Dockerfile;
- ``compose_import``: a compose file's services mapped to one Fargate task, with every key that has no
  ECS meaning listed as ignored or refused;
- ``toml_text``: the few TOML spellings both write (strings, lists, inline tables).

Both return text and the notes to print; the command (`warmkeeper.commands.init_commands`) writes the
file only once the result validates.
"""
