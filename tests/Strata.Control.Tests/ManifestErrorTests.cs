using Strata.Control.Manifests;
using Xunit;

namespace Strata.Control.Tests;

/// <summary>Every kind of problem is one line saying where: source, document, resource, field.</summary>
public class ManifestErrorTests
{
    private static ManifestException Fails(string text, string source = "x.yaml") =>
        Assert.Throws<ManifestException>(() => ManifestParser.Parse(text, source));

    private static string Message(string text, string source = "x.yaml")
    {
        string message = Fails(text, source).Message;
        Assert.DoesNotContain('\n', message);
        return message;
    }

    private const string Pool = """
        apiVersion: openebs.io/v1alpha1
        kind: StoragePoolClaim
        metadata:
          name: cstor-pool
        spec:
          name: cstor-pool
          type: sparse
          maxPools: 3
          poolSpec:
            poolType: striped
        """;

    private const string Class = """
        apiVersion: storage.k8s.io/v1
        kind: StorageClass
        metadata:
          name: openebs-sparse-sc
          annotations:
            openebs.io/cas-type: cstor
            cas.openebs.io/config: |
              - name: StoragePoolClaim
                value: "cstor-pool"
              - name: ReplicaCount
                value: "2"
        provisioner: openebs.io/provisioner-iscsi
        """;

    private const string Claim = """
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata:
          name: mongo-pvc
        spec:
          accessModes: [ReadWriteOnce]
          storageClassName: openebs-sparse-sc
          resources:
            requests:
              storage: 1Gi
        """;

    private static string Swap(string text, string from, string to)
    {
        Assert.Contains(from, text, StringComparison.Ordinal);
        return text.Replace(from, to, StringComparison.Ordinal);
    }

    [Fact]
    public void TheValidOnesAreValid()
    {
        Assert.Equal(3, ManifestParser.Parse(string.Join("\n---\n", Pool, Class, Claim), "ok.yaml").Count);
    }

    // ---- syntax ----

    [Fact]
    public void YamlSyntaxErrorsGiveTheLine()
    {
        Assert.Equal("pvc.yaml: line 4: mapping values are not allowed here (quote a value that holds ': ')",
            Message("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: mongo: pvc\n", "pvc.yaml"));
        Assert.Equal("x.yaml: line 2: found a tab in the indentation; indent with spaces", Message("metadata:\n\tname: x\n"));
        Assert.Equal("x.yaml: line 3: duplicate key 'name'", Message("metadata:\n  name: a\n  name: b\n"));
        var e = Fails("a: [1, 2\n");
        Assert.Equal(2, e.Line);
        Assert.StartsWith("x.yaml: line 2: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void JsonSyntaxErrorsGiveTheLine()
    {
        var e = Fails("{\n  \"apiVersion\": \"v1\",\n  \"kind\" \"PersistentVolumeClaim\"\n}\n", "pvc.json");
        Assert.Equal(3, e.Line);
        Assert.StartsWith("pvc.json: line 3: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("Expected a ':'", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("LineNumber", e.Message, StringComparison.Ordinal);
        Assert.Equal("pvc.json: line 2: ", Message("{\"a\": 1,\n \"b\": }", "pvc.json")[..18]);
        Assert.Equal("x.json: metadata.name is given twice", Message("""{"metadata": {"name": "a", "name": "b"}}""", "x.json"));
    }

    [Fact]
    public void FlowYamlThatLooksLikeJsonIsYaml()
    {
        var r = ManifestParser.Parse("{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: a}, spec: {accessModes: [ReadWriteOnce], storageClassName: sc, resources: {requests: {storage: 1Gi}}}}", "flow.yaml");
        Assert.Equal("a", Assert.Single(r).Metadata.Name);
    }

    // ---- documents ----

    [Fact]
    public void NotAResource()
    {
        Assert.Equal("x.yaml: expected a resource (a mapping with apiVersion, kind and metadata), got a list", Message("- a\n- b\n"));
        Assert.Equal("x.yaml: expected a resource (a mapping with apiVersion, kind and metadata), got 'hello'", Message("hello\n"));
        Assert.Equal("x.yaml: kind: is required (StoragePoolClaim, StorageClass, PersistentVolumeClaim...)", Message("apiVersion: v1\nmetadata: {name: a}\n"));
        Assert.Equal("x.yaml: kind: expected a string, got a mapping", Message("kind: {a: 1}\n"));
    }

    [Fact]
    public void UnknownKind()
    {
        Assert.Equal(
            "x.yaml: unknown kind 'StoragePool' (known: BlockDevice, StoragePoolClaim, CStorPool, StorageClass, PersistentVolumeClaim, PersistentVolume, CStorVolumeReplica, Node; did you mean CStorPool?)",
            Message("apiVersion: openebs.io/v1alpha1\nkind: StoragePool\nmetadata: {name: p}\n"));
        Assert.Equal(
            "x.yaml: unknown kind 'Deployment' (known: BlockDevice, StoragePoolClaim, CStorPool, StorageClass, PersistentVolumeClaim, PersistentVolume, CStorVolumeReplica, Node)",
            Message("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: p}\n"));
        Assert.EndsWith("did you mean PersistentVolumeClaim?)", Message("apiVersion: v1\nkind: pvc\n"), StringComparison.Ordinal);
    }

    [Fact]
    public void WrongApiVersion()
    {
        Assert.Equal("x.yaml (StorageClass openebs-sparse-sc): apiVersion: 'v1' is not one StorageClass accepts (storage.k8s.io/v1, storage.k8s.io/v1beta1)",
            Message(Swap(Class, "storage.k8s.io/v1", "v1")));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): apiVersion: 'openebs.io/v1' is not one StoragePoolClaim accepts (openebs.io/v1alpha1)",
            Message(Swap(Pool, "openebs.io/v1alpha1", "openebs.io/v1")));
        Assert.Equal("x.yaml (PersistentVolumeClaim mongo-pvc): apiVersion: is required (PersistentVolumeClaim takes v1)",
            Message(Swap(Claim, "apiVersion: v1\n", "")));
        Assert.Equal("x.yaml (PersistentVolumeClaim mongo-pvc): apiVersion: 'storage.k8s.io/v1' is not one PersistentVolumeClaim accepts (v1)",
            Message(Swap(Claim, "apiVersion: v1", "apiVersion: storage.k8s.io/v1")));
    }

    [Fact]
    public void DocumentNumbersWhenThereAreSeveral()
    {
        string bad = Swap(Pool, "maxPools: 3", "maxPools: 3x");
        Assert.Equal("deploy/examples/bad.yaml: document 2 (StoragePoolClaim cstor-pool): spec.maxPools: '3x' is not a whole number",
            Message(Claim + "\n---\n" + bad, "deploy/examples/bad.yaml"));
        var e = Fails(Claim + "\n---\n" + bad, "deploy/examples/bad.yaml");
        Assert.Equal(2, e.Document);
        Assert.Equal("StoragePoolClaim", e.Kind);
        Assert.Equal("cstor-pool", e.Name);
        Assert.Equal("spec.maxPools", e.FieldPath);
        Assert.Equal("'3x' is not a whole number", e.Problem);
        // one document: no number, empty documents around it or not
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.maxPools: '3x' is not a whole number", Message(bad));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.maxPools: '3x' is not a whole number", Message("---\n---\n" + bad + "\n---\n"));
        Assert.Equal("x.yaml: document 2 (StoragePoolClaim cstor-pool): spec.maxPools: '3x' is not a whole number", Message(Claim + "\n---\n# empty\n---\n" + bad));
    }

    [Fact]
    public void ListItemsAreNamed()
    {
        string list = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: a}, spec: {accessModes: [ReadWriteOnce], storageClassName: sc, resources: {requests: {storage: 1Gi}}}}\n- {apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: b}, spec: {accessModes: [ReadWriteOnce], storageClassName: sc, resources: {requests: {storage: 1GB}}}}\n";
        Assert.Equal("l.yaml: items[1] (PersistentVolumeClaim b): spec.resources.requests.storage: '1GB' is not a quantity (examples: 1Gi, 500Mi, 10G)", Message(list, "l.yaml"));
        Assert.Equal("l.yaml: document 2, items[1] (PersistentVolumeClaim b): spec.resources.requests.storage: '1GB' is not a quantity (examples: 1Gi, 500Mi, 10G)", Message(Claim + "\n---\n" + list, "l.yaml"));
        Assert.Equal("l.yaml (List): unknown field spec (a List has apiVersion, kind, metadata and items)", Message("apiVersion: v1\nkind: List\nspec: {}\n", "l.yaml"));
        Assert.Equal("l.yaml (List): items: expected a list, got a mapping", Message("apiVersion: v1\nkind: List\nitems: {}\n", "l.yaml"));
        Assert.Equal("l.yaml: items[0] (List): kind: a List cannot hold a List", Message("apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: List, items: []}]\n", "l.yaml"));
    }

    // ---- fields and types ----

    [Fact]
    public void UnknownFieldsAnywhere()
    {
        Assert.Equal("x.yaml (PersistentVolumeClaim mongo-pvc): unknown field spec.foo", Message(Claim + "\n  foo: 1\n"));
        Assert.Equal("x.yaml (StorageClass openebs-sparse-sc): unknown field spec (this kind has no spec: its fields are at the top, provisioner, parameters, reclaimPolicy, volumeBindingMode, allowVolumeExpansion, mountOptions)",
            Message(Class + "\nspec:\n  foo: 1\n"));
        Assert.Equal("x.yaml (StorageClass openebs-sparse-sc): unknown field provisoner", Message(Swap(Class, "provisioner:", "provisoner:")));
        Assert.Equal("x.yaml (StorageClass openebs-sparse-sc): unknown field parameter",
            Message(Class + "\nparameter: {}\n"));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): unknown field spec.poolSpec.poolTyp",
            Message(Swap(Pool, "poolType: striped", "poolTyp: striped")));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): unknown field spec.MaxPools (did you mean maxPools?)",
            Message(Swap(Pool, "maxPools: 3", "MaxPools: 3")));
        Assert.Equal("x.yaml (PersistentVolumeClaim mongo-pvc): unknown field spec.selector",
            Message(Claim + "\n  selector: {matchLabels: {a: b}}\n"));
        Assert.Equal("x.yaml (PersistentVolumeClaim mongo-pvc): unknown field metadata.nmae",
            Message(Swap(Claim, "name: mongo-pvc", "name: mongo-pvc\n  nmae: x")));
        Assert.Equal("x.yaml (PersistentVolumeClaim mongo-pvc): metadata.generateName: is not supported; give metadata.name",
            Message(Swap(Claim, "name: mongo-pvc", "name: mongo-pvc\n  generateName: mongo-")));
    }

    [Fact]
    public void WrongTypes()
    {
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.maxPools: '3' is a string, not a whole number (write 3 without quotes)",
            Message(Swap(Pool, "maxPools: 3", "maxPools: \"3\"")));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.maxPools: '3.5' is not a whole number", Message(Swap(Pool, "maxPools: 3", "maxPools: 3.5")));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.maxPools: '99999999999' is too large (at most 2147483647)", Message(Swap(Pool, "maxPools: 3", "maxPools: 99999999999")));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.maxPools: 'true' is not a whole number", Message(Swap(Pool, "maxPools: 3", "maxPools: true")));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.maxPools: '.inf' is not a whole number", Message(Swap(Pool, "maxPools: 3", "maxPools: .inf")));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.poolSpec.overProvisioning: 'yes' is not true or false",
            Message(Swap(Pool, "poolType: striped", "poolType: striped\n    overProvisioning: yes")));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.poolSpec: expected a mapping, got 'striped'", Message(Swap(Pool, "poolSpec:\n    poolType: striped", "poolSpec: striped")));
        Assert.Equal("x.yaml (PersistentVolumeClaim mongo-pvc): spec.accessModes: expected a list, got 'ReadWriteOnce'", Message(Swap(Claim, "[ReadWriteOnce]", "ReadWriteOnce")));
        Assert.Equal("x.yaml (PersistentVolumeClaim mongo-pvc): spec.accessModes[0]: expected a string, got a mapping", Message(Swap(Claim, "[ReadWriteOnce]", "[{a: b}]")));
        Assert.Equal("x.yaml (PersistentVolumeClaim mongo-pvc): spec.storageClassName: expected a string, got true (quote it: \"true\")", Message(Swap(Claim, "openebs-sparse-sc", "true")));
        Assert.Equal("x.yaml (PersistentVolumeClaim mongo-pvc): metadata.annotations[example.com/flag]: expected a string, got false (quote it: \"false\")",
            Message(Swap(Claim, "name: mongo-pvc", "name: mongo-pvc\n  annotations: {example.com/flag: false}")));
        Assert.Equal("x.yaml (PersistentVolumeClaim mongo-pvc): spec.resources.requests.storage: expected a string, got a mapping", Message(Swap(Claim, "storage: 1Gi", "storage: {size: 1Gi}")));
        Assert.Equal("x.yaml (PersistentVolumeClaim): metadata: expected a mapping, got 'mongo-pvc'", Message(Swap(Claim, "metadata:\n  name: mongo-pvc", "metadata: mongo-pvc")));
    }

    // ---- per-kind rules ----

    [Fact]
    public void Names()
    {
        Assert.Equal("x.yaml (PersistentVolumeClaim Mongo_PVC): metadata.name: 'Mongo_PVC' is not a valid name (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)",
            Message(Swap(Claim, "name: mongo-pvc", "name: Mongo_PVC")));
        Assert.Equal("x.yaml (PersistentVolumeClaim): metadata.name: is required", Message(Swap(Claim, "name: mongo-pvc", "labels: {a: b}")));
        Assert.Equal("x.yaml (StoragePoolClaim -pool): metadata.name: '-pool' is not a valid name (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)",
            Message(Swap(Pool, "name: cstor-pool\nspec:\n  name: cstor-pool", "name: -pool\nspec:")));
        Assert.Contains("metadata.name: '" + new string('a', 254) + "' is not a valid name", Message(Swap(Claim, "name: mongo-pvc", "name: " + new string('a', 254))), StringComparison.Ordinal);
        Assert.Single(ManifestParser.Parse(Swap(Claim, "name: mongo-pvc", "name: " + new string('a', 253)), "x.yaml"));
        Assert.Single(ManifestParser.Parse(Swap(Claim, "name: mongo-pvc", "name: mongo.pvc-1"), "x.yaml"));
        Assert.Equal("x.yaml (PersistentVolumeClaim mongo-pvc): metadata.namespace: 'my.ns' is not a valid namespace (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)",
            Message(Swap(Claim, "name: mongo-pvc", "name: mongo-pvc\n  namespace: my.ns")));
        Assert.StartsWith("x.yaml (PersistentVolumeClaim mongo-pvc): metadata.labels: 'bad key!' is not a valid key",
            Message(Swap(Claim, "name: mongo-pvc", "name: mongo-pvc\n  labels: {'bad key!': x}")), StringComparison.Ordinal);
        Assert.StartsWith("x.yaml (PersistentVolumeClaim mongo-pvc): metadata.labels[app]: 'a b' is not a valid label value",
            Message(Swap(Claim, "name: mongo-pvc", "name: mongo-pvc\n  labels: {app: a b}")), StringComparison.Ordinal);
    }

    [Fact]
    public void PoolClaimRules()
    {
        static string M(string from, string to) => Message(Swap(Pool, from, to));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.type: 'ssd' is not a pool type (sparse or disk)", M("type: sparse", "type: ssd"));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.type: is required (sparse or disk)", M("  type: sparse\n", ""));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.maxPools: is required for a sparse pool claim: how many nodes get a pool", M("  maxPools: 3\n", ""));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.maxPools: 0 must be at least 1", M("maxPools: 3", "maxPools: 0"));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.minPools: 4 is more than spec.maxPools (3)", M("maxPools: 3", "maxPools: 3\n  minPools: 4"));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.poolSpec.poolType: 'raidz' is not a pool layout (striped or mirrored)", M("poolType: striped", "poolType: raidz"));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.name: 'other' must be the same as metadata.name 'cstor-pool'", M("  name: cstor-pool\n  type", "  name: other\n  type"));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.blockDevices.blockDeviceList is for disk pools; a sparse pool claim makes its own files",
            M("maxPools: 3", "maxPools: 3\n  blockDevices: {blockDeviceList: [bd-1]}"));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.blockDevices.blockDeviceList: a disk pool claim needs the BlockDevices to use (spec.blockDevices.blockDeviceList) or spec.maxPools",
            M("type: sparse\n  maxPools: 3", "type: disk"));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.disks.diskList[1]: 'bd-1' is listed twice",
            M("type: sparse\n  maxPools: 3", "type: disk\n  disks: {diskList: [bd-1, bd-1]}"));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.blockDevices.blockDeviceList[0]: 'BD_1' is not a valid BlockDevice name (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)",
            M("type: sparse\n  maxPools: 3", "type: disk\n  blockDevices: {blockDeviceList: [BD_1]}"));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): spec.disks: give spec.blockDevices or spec.disks, not both",
            M("type: sparse\n  maxPools: 3", "type: disk\n  blockDevices: {blockDeviceList: [a]}\n  disks: {diskList: [b]}"));
    }

    [Fact]
    public void PoolClaimCasConfig()
    {
        static string M(string config) => Message(Swap(Pool, "  name: cstor-pool\nspec", "  name: cstor-pool\n  annotations:\n    cas.openebs.io/config: |\n" + config + "spec"));
        Assert.Single(ManifestParser.Parse(Swap(Pool, "  name: cstor-pool\nspec", "  name: cstor-pool\n  annotations:\n    cas.openebs.io/config: |\n      - name: Tolerations\n        value: |-\n          t1:\n            effect: NoSchedule\nspec"), "x.yaml"));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): metadata.annotations[cas.openebs.io/config]: unknown setting 'ReplicaCount' (known: PoolResourceRequests, PoolResourceLimits, AuxResourceRequests, AuxResourceLimits, Tolerations)",
            M("      - name: ReplicaCount\n        value: \"2\"\n"));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): metadata.annotations[cas.openebs.io/config]: must be a YAML list of '- name: ...' / '  value: ...' entries",
            M("      PoolResourceRequests: 1Gi\n"));
        Assert.Equal("x.yaml (StoragePoolClaim cstor-pool): metadata.annotations[cas.openebs.io/config]: entry 1 (PoolResourceRequests) has a value that is not a string; write a multi-line value as a block scalar (value: |-)",
            M("      - name: PoolResourceRequests\n        value:\n          memory: 1Gi\n"));
    }

    [Fact]
    public void StorageClassRules()
    {
        static string M(string from, string to) => Message(Swap(Class, from, to));
        Assert.Equal("x.yaml (StorageClass openebs-sparse-sc): provisioner: 'kubernetes.io/aws-ebs' is not one Strata serves (openebs.io/provisioner-iscsi, strata.io/iscsi)",
            M("openebs.io/provisioner-iscsi", "kubernetes.io/aws-ebs"));
        Assert.Equal("x.yaml (StorageClass openebs-sparse-sc): provisioner: is required (openebs.io/provisioner-iscsi, strata.io/iscsi)",
            M("provisioner: openebs.io/provisioner-iscsi", ""));
        Assert.Single(ManifestParser.Parse(Swap(Class, "openebs.io/provisioner-iscsi", "strata.io/iscsi"), "x.yaml"));
        Assert.Equal("x.yaml (StorageClass openebs-sparse-sc): metadata.annotations[openebs.io/cas-type]: 'jiva' is not supported (only cstor)", M("cas-type: cstor", "cas-type: jiva"));
        Assert.Equal("x.yaml (StorageClass openebs-sparse-sc): reclaimPolicy: 'Recycle' is not a reclaim policy (Delete, Retain)", M("provisioner:", "reclaimPolicy: Recycle\nprovisioner:"));
        Assert.Single(ManifestParser.Parse(Swap(Class, "provisioner:", "reclaimPolicy: Retain\nvolumeBindingMode: Immediate\nallowVolumeExpansion: false\nmountOptions: [noatime]\nprovisioner:"), "x.yaml"));
        Assert.Equal("x.yaml (StorageClass openebs-sparse-sc): volumeBindingMode: WaitForFirstConsumer is not supported: volumes are made when their claim is applied (Immediate)",
            M("provisioner:", "volumeBindingMode: WaitForFirstConsumer\nprovisioner:"));
        Assert.Equal("x.yaml (StorageClass openebs-sparse-sc): parameters.replicaCount: openebs.io/provisioner-iscsi takes no parameters; give settings in the cas.openebs.io/config annotation",
            M("provisioner:", "parameters: {replicaCount: \"2\"}\nprovisioner:"));
    }

    [Fact]
    public void StorageClassCasConfig()
    {
        static string M(string from, string to) => Message(Swap(Class, from, to));
        const string Where = "x.yaml (StorageClass openebs-sparse-sc): metadata.annotations[cas.openebs.io/config]: ";
        Assert.Equal(Where + "ReplicaCount '7' is not a whole number from 1 to 5", M("value: \"2\"", "value: \"7\""));
        Assert.Equal(Where + "ReplicaCount '0' is not a whole number from 1 to 5", M("value: \"2\"", "value: 0"));
        Assert.Equal(Where + "ReplicaCount 'two' is not a whole number from 1 to 5", M("value: \"2\"", "value: two"));
        Assert.Single(ManifestParser.Parse(Swap(Class, "value: \"2\"", "value: 3"), "x.yaml"));
        Assert.Equal(Where + "must name the StoragePoolClaim whose pools hold the volumes (- name: StoragePoolClaim / value: \"cstor-pool\")",
            M("      - name: StoragePoolClaim\n        value: \"cstor-pool\"\n", ""));
        Assert.Equal(Where + "StoragePoolClaim 'Cstor Pool' is not a valid name (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)",
            M("\"cstor-pool\"", "\"Cstor Pool\""));
        Assert.Equal(Where + "unknown setting 'Replicas' (known: StoragePoolClaim, ReplicaCount, FSType, TargetResourceRequests, TargetResourceLimits, AuxResourceRequests, AuxResourceLimits, TargetNodeSelector, TargetTolerations, ReplicaAntiAffinityTopoKey, VolumeControllerImage, VolumeTargetImage, VolumeMonitorImage, VolumeMonitor, Luworkers, QueueDepth, ZvolWorkers)",
            M("name: ReplicaCount", "name: Replicas"));
        Assert.Equal(Where + "unknown setting 'replicaCount' (did you mean ReplicaCount?)", M("name: ReplicaCount", "name: replicaCount"));
        Assert.Equal(Where + "FSType 'btrfs' is not supported (ext4 or xfs)", M("value: \"2\"", "value: \"2\"\n      - name: FSType\n        value: btrfs"));
        Assert.Equal(Where + "entry 3 (ReplicaCount) is given twice", M("value: \"2\"", "value: \"2\"\n      - name: ReplicaCount\n        value: \"3\""));
        Assert.Equal(Where + "entry 1 has an unknown field 'nam' (an entry has name and value)", M("- name: StoragePoolClaim", "- nam: StoragePoolClaim"));
        Assert.Equal(Where + "entry 1 needs a name", M("- name: StoragePoolClaim\n        value", "- value"));
        Assert.Equal(Where + "not valid YAML (is a bracket or quote left open?)", M("- name: StoragePoolClaim", "- name: [StoragePoolClaim"));
        Assert.Equal(Where + "not valid YAML (line 2 of the value): duplicate key 'name'", M("value: \"cstor-pool\"", "name: again"));
        Assert.Equal("x.yaml (StorageClass openebs-sparse-sc): metadata.annotations[cas.openebs.io/config]: is required: it names the StoragePoolClaim whose pools hold the volumes (- name: StoragePoolClaim / value: \"cstor-pool\")",
            Message("apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: openebs-sparse-sc}\nprovisioner: strata.io/iscsi\n"));
        // the accepted-and-ignored ones, and FSType used
        var sc = Assert.IsType<Strata.Control.Resources.StorageClass>(Assert.Single(ManifestParser.Parse(Swap(Class, "value: \"2\"",
            "value: \"2\"\n      - name: FSType\n        value: xfs\n      - name: TargetResourceLimits\n        value: |-\n          memory: 1Gi\n      - name: VolumeMonitor\n        value: \"false\"\n      - name: QueueDepth\n        value: \"32\""), "x.yaml")));
        var config = CasConfig.ForStorageClass(sc);
        Assert.Equal("xfs", config.FsType);
        Assert.Equal("memory: 1Gi", config.Entries["TargetResourceLimits"]);
    }

    [Fact]
    public void ClaimRules()
    {
        static string M(string from, string to) => Message(Swap(Claim, from, to));
        const string Where = "x.yaml (PersistentVolumeClaim mongo-pvc): ";
        Assert.Equal(Where + "spec.accessModes: is required (ReadWriteOnce)", M("[ReadWriteOnce]", "[]"));
        Assert.Equal(Where + "spec.accessModes: is required (ReadWriteOnce)", M("  accessModes: [ReadWriteOnce]\n", ""));
        Assert.Equal(Where + "spec.accessModes[0]: ReadWriteMany is not supported: a volume is an iSCSI LUN with a filesystem on it, which one node at a time may mount (use ReadWriteOnce)", M("[ReadWriteOnce]", "[ReadWriteMany]"));
        Assert.Equal(Where + "spec.accessModes[1]: ReadOnlyMany is not supported: a volume is an iSCSI LUN with a filesystem on it, which one node at a time may mount (use ReadWriteOnce)", M("[ReadWriteOnce]", "[ReadWriteOnce, ReadOnlyMany]"));
        Assert.Equal(Where + "spec.accessModes[0]: 'RWO' is not an access mode (ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod)", M("[ReadWriteOnce]", "[RWO]"));
        Assert.Equal(Where + "spec.resources.requests.storage: '1GB' is not a quantity (examples: 1Gi, 500Mi, 10G)", M("1Gi", "1GB"));
        Assert.Equal(Where + "spec.resources.requests.storage: '0' must be more than 0", M("1Gi", "0"));
        Assert.Equal(Where + "spec.resources.requests.storage: '-1Gi' must be more than 0", M("1Gi", "-1Gi"));
        Assert.Equal(Where + "spec.resources.requests.storage: '0.5' is not a whole number of bytes", M("1Gi", "0.5"));
        Assert.Equal(Where + "spec.resources.requests.storage: '16Ei' is too large (at most 8Ei)", M("1Gi", "16Ei"));
        Assert.Equal(Where + "spec.resources.requests.storage: is required: the volume's size (1Gi)", M("storage: 1Gi", "{}"));
        Assert.Equal(Where + "spec.resources.requests.cpu: only storage can be requested for a volume", M("storage: 1Gi", "storage: 1Gi\n      cpu: 1"));
        Assert.Equal(Where + "spec.resources.limits.storage: '512Mi' is less than the requested 1Gi", M("storage: 1Gi", "storage: 1Gi\n    limits: {storage: 512Mi}"));
        Assert.Equal(Where + "spec.storageClassName: is required (there is no default StorageClass)", M("  storageClassName: openebs-sparse-sc\n", ""));
        Assert.Equal(Where + "spec.volumeMode: 'Raw' is not a volume mode (Filesystem, Block)", M("storageClassName:", "volumeMode: Raw\n  storageClassName:"));
        Assert.Single(ManifestParser.Parse(Swap(Claim, "storageClassName:", "volumeMode: Block\n  storageClassName:"), "x.yaml"));
    }

    [Theory]
    [InlineData("CStorPool", "openebs.io/v1alpha1", "CStorPool is made by the control plane; apply a StoragePoolClaim instead")]
    [InlineData("PersistentVolume", "v1", "PersistentVolume is made by the control plane; apply a PersistentVolumeClaim instead")]
    [InlineData("CStorVolumeReplica", "openebs.io/v1alpha1", "CStorVolumeReplica is made by the control plane; apply a PersistentVolumeClaim instead")]
    [InlineData("BlockDevice", "openebs.io/v1alpha1", "BlockDevice is made by the control plane (node agents report the disks they find); name it in a StoragePoolClaim instead")]
    [InlineData("Node", "v1", "Node is made by the control plane (a node agent registers its node when it starts)")]
    public void ControlPlaneKindsCannotBeApplied(string kind, string apiVersion, string problem)
    {
        Assert.Equal($"x.yaml ({kind} thing): {problem}", Message($"apiVersion: {apiVersion}\nkind: {kind}\nmetadata: {{name: thing}}\n"));
    }

    [Fact]
    public void ValidatorAloneNamesTheResource()
    {
        var pvc = new Strata.Control.Resources.PersistentVolumeClaim { ApiVersion = "v1", Kind = "PersistentVolumeClaim" };
        pvc.Metadata.Name = "a";
        var e = Assert.Throws<ManifestException>(() => ManifestValidator.Validate(pvc));
        Assert.Equal("(PersistentVolumeClaim a): spec.accessModes: is required (ReadWriteOnce)", e.Message);
        Assert.True(ManifestValidator.IsDns1123Subdomain("cstor-pool"));
        Assert.False(ManifestValidator.IsDns1123Subdomain("cstor-pool-"));
        Assert.True(ManifestValidator.IsDns1123Label("default"));
        Assert.False(ManifestValidator.IsDns1123Label("a.b"));
    }
}
