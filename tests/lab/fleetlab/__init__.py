"""The ganeti.fleet lab: real Ganeti 3.0 clusters in Linux namespaces."""

from .lab import (  # noqa: F401
    LAB_DIR_DEFAULT, Lab, LabError, Topology, enter_network_namespace, install_packages,
    run_in_machine_network,
)
from .helpers import (  # noqa: F401
    create_instance, disk_path, hash_instance_disk, instance_primary_node, list_instances, list_nodes,
)
