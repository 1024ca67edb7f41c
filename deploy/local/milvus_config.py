"""Writes a milvus.yaml for one embedded Milvus (PyPI package `milvus`) and unpacks its server binary.

Usage: python milvus_config.py BASE_DIR PORT_BASE key=value [key=value ...]
Prints the path of the milvus executable. The package's own template is rendered with its defaults, then every
key=value override (dotted milvus.yaml keys, e.g. mq.type=kafka) is applied to the parsed YAML, creating sections
the template only has as comments (such as `kafka`).
"""
import os
import re
import sys

import yaml
import milvus
from milvus import MilvusServerConfig, _initialize_data_files

# Offsets from PORT_BASE for every port the template exposes, so two servers never collide.
PORT_OFFSETS = {
    'proxy_port': 0,
    'proxy_internal_port': 1,
    'root_coord_port': 2,
    'query_coord_port': 3,
    'query_node_port': 4,
    'index_coord_port': 5,
    'index_node_port': 6,
    'data_coord_port': 7,
    'data_node_port': 8,
    'etcd_port': 9,  # embedded etcd is disabled; the value is unused but must render
}


def parse_value(text):
    if text in ('true', 'false'):
        return text == 'true'
    if re.fullmatch(r'-?\d+', text):
        return int(text)
    return text


def set_dotted(doc, dotted, value):
    node = doc
    parts = dotted.split('.')
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


def main():
    base_dir, port_base = os.path.abspath(sys.argv[1]), int(sys.argv[2])
    overrides = dict(arg.split('=', 1) for arg in sys.argv[3:])
    cfg = MilvusServerConfig()
    for key, offset in PORT_OFFSETS.items():
        cfg.configs[key] = port_base + offset
    cfg.configs['data_dir'] = base_dir
    cfg.resolve_storage()
    text = cfg.template_text
    for placeholder, key in cfg.config_key_maps.items():
        value = cfg.configs.get(key, cfg.configurable_items[key][1])
        text = text.replace(placeholder, MilvusServerConfig.get_value_text(value))
    doc = yaml.safe_load(text)
    # Components talk to each other over gRPC; keep that on loopback instead of the machine's first interface.
    for role in ('rootCoord', 'proxy', 'queryCoord', 'queryNode', 'indexCoord', 'indexNode', 'dataCoord', 'dataNode'):
        set_dotted(doc, f'{role}.ip', '127.0.0.1')
    for dotted, raw in overrides.items():
        set_dotted(doc, dotted, parse_value(raw))
    os.makedirs(os.path.join(base_dir, 'configs'), exist_ok=True)
    with open(os.path.join(base_dir, 'configs', 'milvus.yaml'), 'w', encoding='utf-8') as out:
        yaml.safe_dump(doc, out, sort_keys=False)
    glog = os.path.join(os.path.dirname(milvus.__file__), 'data', 'glog.conf')
    with open(glog, encoding='utf-8') as src, open(os.path.join(base_dir, 'configs', 'glog.conf'), 'w', encoding='utf-8') as dst:
        dst.write(src.read())
    _initialize_data_files(base_dir)
    print(os.path.join(base_dir, 'bin', 'milvus'))


if __name__ == '__main__':
    main()
