# Derives the AKS variants of the real IMDS answer (rules in ../PROVENANCE.md).
import json
SRC = 'metadata_instance.api-version=2021-11-15.json'
text = open(SRC).read()

def with_rg(rg):
    return json.loads(text.replace('macikgo-test-may-23', rg))

def add_tags(d, tags):
    c = d['compute']
    for k, v in tags:
        c['tagsList'].append({'name': k, 'value': v})
        c['tags'] += ';%s:%s' % (k, v)
    return d

def write(name, d):
    open(name, 'w').write(json.dumps(d, indent=2))

write('metadata_instance.aks-tag.DERIVED.json',
      add_tags(json.loads(text), [('aks-managed-cluster-name', 'myAKSCluster'),
                                  ('aks-managed-cluster-rg', 'myResourceGroup')]))
write('metadata_instance.aks-mc-group.DERIVED.json', with_rg('MC_myResourceGroup_myAKSCluster_westus'))
write('metadata_instance.aks-mc-ambiguous.DERIVED.json', with_rg('MC_my_rg_my_cluster_westus'))
write('metadata_instance.aks-mc-ambiguous-rg-tag.DERIVED.json',
      add_tags(with_rg('MC_my_rg_my_cluster_westus'), [('aks-managed-cluster-rg', 'my_rg')]))
write('metadata_instance.aks-tag-hostile.DERIVED.json',
      add_tags(json.loads(text), [('aks-managed-cluster-name', 'my<cluster>')]))
