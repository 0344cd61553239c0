using Strata.Control.Manifests;
using Strata.Control.Resources;
using Xunit;

namespace Strata.Control.Tests;

/// <summary>The walkthrough's manifests in deploy/examples, read from the repository, parse into exactly what they say.</summary>
public class ExampleManifestTests
{
    private const string PoolFile = "deploy/examples/cstor-pool-config.yaml";
    private const string ClassFile = "deploy/examples/storageclass.yaml";
    private const string ClaimFile = "deploy/examples/pvc.yaml";

    internal static void AssertPoolClaim(Resource resource)
    {
        var spc = Assert.IsType<StoragePoolClaim>(resource);
        Assert.Equal("openebs.io/v1alpha1", spc.ApiVersion);
        Assert.Equal("StoragePoolClaim", spc.Kind);
        Assert.Equal("cstor-pool", spc.Metadata.Name);
        Assert.Null(spc.Metadata.Namespace);
        Assert.Equal("cstor-pool", spc.Spec.Name);
        Assert.Equal("sparse", spc.Spec.Type);
        Assert.Equal(3, spc.Spec.MaxPools);
        Assert.Equal("striped", spc.Spec.PoolSpec.PoolType);
        Assert.Null(spc.Spec.BlockDevices);
        var config = CasConfig.Of(spc);
        Assert.Equal(["PoolResourceRequests", "PoolResourceLimits"], config.Entries.Keys);
        Assert.Equal("memory: 512Mi", config["PoolResourceRequests"]);
        Assert.Equal("memory: 1Gi", config["PoolResourceLimits"]);
    }

    internal static void AssertStorageClass(Resource resource)
    {
        var sc = Assert.IsType<StorageClass>(resource);
        Assert.Equal("storage.k8s.io/v1", sc.ApiVersion);
        Assert.Equal("openebs-sparse-sc", sc.Metadata.Name);
        Assert.Equal("openebs-sc", sc.Metadata.Labels!["component"]);
        Assert.Equal("cstor", sc.Metadata.Annotations!["openebs.io/cas-type"]);
        Assert.Equal("openebs.io/provisioner-iscsi", sc.Provisioner);
        var config = CasConfig.ForStorageClass(sc);
        Assert.Equal("cstor-pool", config.StoragePoolClaim);
        Assert.Equal(2, config.ReplicaCount);
        Assert.Equal("ext4", config.FsType);
        Assert.Equal(["StoragePoolClaim", "ReplicaCount"], config.Entries.Entries.Keys);
    }

    internal static void AssertClaim(Resource resource)
    {
        var pvc = Assert.IsType<PersistentVolumeClaim>(resource);
        Assert.Equal("v1", pvc.ApiVersion);
        Assert.Equal("mongo-pvc", pvc.Metadata.Name);
        Assert.Equal("default", pvc.Metadata.Namespace);
        Assert.Equal(["ReadWriteOnce"], pvc.Spec.AccessModes);
        Assert.Equal("openebs-sparse-sc", pvc.Spec.StorageClassName);
        Assert.Equal("1Gi", pvc.Spec.Resources.Requests["storage"]);
        Assert.Equal(1073741824, Quantity.Parse(pvc.Spec.Resources.Requests["storage"], "spec.resources.requests.storage"));
        Assert.Equal("default/mongo-pvc", pvc.QualifiedName);
    }

    [Fact]
    public void PoolClaimFileParses() => AssertPoolClaim(Assert.Single(ManifestParser.Parse(Repo.ReadText(PoolFile), PoolFile)));

    [Fact]
    public void StorageClassFileParses() => AssertStorageClass(Assert.Single(ManifestParser.Parse(Repo.ReadText(ClassFile), ClassFile)));

    [Fact]
    public void ClaimFileParses() => AssertClaim(Assert.Single(ManifestParser.Parse(Repo.ReadText(ClaimFile), ClaimFile)));

    [Fact]
    public void ParseFileNamesThePath()
    {
        AssertClaim(Assert.Single(ManifestParser.ParseFile(Path.Combine(Repo.Root, ClaimFile))));
    }

    [Fact]
    public void TheExamplesAreTheWalkthroughsVerbatim()
    {
        // The seed's StorageClass indents every line by one space, and its comments are Japanese: both kept.
        string sc = Repo.ReadText(ClassFile);
        Assert.All(sc.TrimEnd('\n').Split('\n'), line => Assert.StartsWith(" ", line, StringComparison.Ordinal));
        Assert.Contains("# 2つのVolumeにデータをレプリケーションする", sc, StringComparison.Ordinal);
        Assert.Contains("# Poolインスタンスの数。Node数以下にする必要がある", Repo.ReadText(PoolFile), StringComparison.Ordinal);
    }

    [Fact]
    public void AllThreeInOneStream()
    {
        string all = string.Join("---\n", Repo.ReadText(PoolFile), Repo.ReadText(ClassFile), Repo.ReadText(ClaimFile));
        var resources = ManifestParser.Parse(all, "all.yaml");
        Assert.Equal(3, resources.Count);
        AssertPoolClaim(resources[0]);
        AssertStorageClass(resources[1]);
        AssertClaim(resources[2]);
    }

    [Fact]
    public void EmptyDocumentsAreSkipped()
    {
        string all = "---\n# nothing here\n---\n" + Repo.ReadText(ClaimFile) + "---\n---\n";
        AssertClaim(Assert.Single(ManifestParser.Parse(all, "x.yaml")));
        Assert.Empty(ManifestParser.Parse("", "empty.yaml"));
        Assert.Empty(ManifestParser.Parse("# only a comment\n", "empty.yaml"));
    }

    public const string PoolClaimJson = """
        {
          "apiVersion": "openebs.io/v1alpha1",
          "kind": "StoragePoolClaim",
          "metadata": {
            "name": "cstor-pool",
            "annotations": {
              "cas.openebs.io/config": "- name: PoolResourceRequests\n  value: |-\n    memory: 512Mi\n- name: PoolResourceLimits\n  value: |-\n    memory: 1Gi\n"
            }
          },
          "spec": { "name": "cstor-pool", "type": "sparse", "maxPools": 3, "poolSpec": { "poolType": "striped" } }
        }
        """;

    public const string StorageClassJson = """
        {
          "apiVersion": "storage.k8s.io/v1",
          "kind": "StorageClass",
          "metadata": {
            "name": "openebs-sparse-sc",
            "labels": { "component": "openebs-sc" },
            "annotations": {
              "openebs.io/cas-type": "cstor",
              "cas.openebs.io/config": "- name: StoragePoolClaim\n  value: \"cstor-pool\"\n- name: ReplicaCount\n  value: \"2\"\n"
            }
          },
          "provisioner": "openebs.io/provisioner-iscsi"
        }
        """;

    public const string ClaimJson = """
        {
          "apiVersion": "v1",
          "kind": "PersistentVolumeClaim",
          "metadata": { "name": "mongo-pvc", "namespace": "default" },
          "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "openebs-sparse-sc",
            "resources": { "requests": { "storage": "1Gi" } }
          }
        }
        """;

    [Fact]
    public void JsonEquivalentsParseTheSame()
    {
        AssertPoolClaim(Assert.Single(ManifestParser.Parse(PoolClaimJson, "spc.json")));
        AssertStorageClass(Assert.Single(ManifestParser.Parse(StorageClassJson, "sc.json")));
        AssertClaim(Assert.Single(ManifestParser.Parse(ClaimJson, "pvc.json")));
    }

    [Fact]
    public void SeveralJsonValuesOneAfterAnother()
    {
        var resources = ManifestParser.Parse(PoolClaimJson + "\n" + StorageClassJson + ClaimJson, "all.json");
        Assert.Equal(3, resources.Count);
        AssertPoolClaim(resources[0]);
        AssertStorageClass(resources[1]);
        AssertClaim(resources[2]);
    }

    [Fact]
    public void JsonListKind()
    {
        string list = $$"""{ "apiVersion": "v1", "kind": "List", "metadata": { "resourceVersion": "" }, "items": [ {{PoolClaimJson}}, {{StorageClassJson}}, {{ClaimJson}} ] }""";
        var resources = ManifestParser.Parse(list, "list.json");
        Assert.Equal(3, resources.Count);
        AssertPoolClaim(resources[0]);
        AssertStorageClass(resources[1]);
        AssertClaim(resources[2]);
    }

    [Fact]
    public void YamlListKind()
    {
        string list = """
            apiVersion: v1
            kind: List
            items:
            - apiVersion: v1
              kind: PersistentVolumeClaim
              metadata:
                name: mongo-pvc
              spec:
                accessModes: [ReadWriteOnce]
                storageClassName: openebs-sparse-sc
                resources:
                  requests:
                    storage: 1Gi
            - apiVersion: v1
              kind: PersistentVolumeClaim
              metadata: {name: other, namespace: team-a}
              spec: {accessModes: [ReadWriteOncePod], storageClassName: openebs-sparse-sc, resources: {requests: {storage: 500Mi}}}
            """;
        var resources = ManifestParser.Parse(list, "list.yaml");
        Assert.Equal(2, resources.Count);
        AssertClaim(resources[0]);
        var other = Assert.IsType<PersistentVolumeClaim>(resources[1]);
        Assert.Equal("team-a/other", other.QualifiedName);
        Assert.Equal("500Mi", other.Spec.Resources.Requests["storage"]);
        Assert.Empty(ManifestParser.Parse("apiVersion: v1\nkind: List\nitems: []\n", "empty-list.yaml"));
    }
}
