using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Control.Manifests;
using Strata.Control.Resources;
using Xunit;

namespace Strata.Control.Tests;

public class ResourceJsonTests
{
    private static PersistentVolumeClaim Claim() =>
        Assert.IsType<PersistentVolumeClaim>(Assert.Single(ManifestParser.Parse(ExampleManifestTests.ClaimJson, "pvc.json")));

    private static Volume SomeVolume()
    {
        var pv = new Volume { ApiVersion = "v1", Kind = "PersistentVolume" };
        pv.Metadata.Name = "pvc-0d1b7a0c";
        pv.Metadata.Uid = "0d1b7a0c-8a4e-4b1e-9d4a-1f0c2b3a4d5e";
        pv.Metadata.CreationTimestamp = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        pv.Metadata.ResourceVersion = 42;
        pv.Spec.Capacity["storage"] = "1Gi";
        pv.Spec.SizeBytes = 1073741824;
        pv.Spec.AccessModes.Add("ReadWriteOnce");
        pv.Spec.PersistentVolumeReclaimPolicy = "Retain";
        pv.Spec.ClaimRef = new ClaimReference { Name = "mongo-pvc" };
        pv.Spec.ReplicaCount = 2;
        pv.Spec.Replicas.Add(new ReplicaPlacement { Name = "pvc-0d1b7a0c-a", Pool = "cstor-pool-x1", Node = "node-1" });
        pv.Spec.Iscsi.Iqn = "iqn.2026-11.io.strata:pvc-0d1b7a0c";
        pv.Status.Phase = "Bound";
        pv.Status.Conditions = [new Condition { Type = "Ready", Status = "True", Reason = "Healthy", LastTransitionTime = pv.Metadata.CreationTimestamp }];
        return pv;
    }

    [Fact]
    public void CamelCaseNamesNullsLeftOutKubectlOrder()
    {
        var json = JsonNode.Parse(ResourceJson.Serialize(SomeVolume()))!.AsObject();
        Assert.Equal(["apiVersion", "kind", "metadata", "spec", "status"], json.Select(p => p.Key));
        var spec = json["spec"]!.AsObject();
        Assert.Equal("Retain", (string?)spec["persistentVolumeReclaimPolicy"]);
        Assert.Equal(1073741824L, (long)spec["sizeBytes"]!);
        Assert.Equal("1Gi", (string?)spec["capacity"]!["storage"]);
        Assert.Equal("iqn.2026-11.io.strata:pvc-0d1b7a0c", (string?)spec["iscsi"]!["iqn"]);
        Assert.False(spec.ContainsKey("storageClassName")); // null: left out
        Assert.False(spec.ContainsKey("targetNode"));
        var meta = json["metadata"]!.AsObject();
        Assert.False(meta.ContainsKey("resourceVersion")); // the store's, never stored
        Assert.False(json.ContainsKey("descriptor"));
        Assert.False(json.ContainsKey("qualifiedName"));
        Assert.False(json.ContainsKey("key"));

        var spc = (StoragePoolClaim)ManifestParser.Parse(ExampleManifestTests.PoolClaimJson, "spc.json")[0];
        var spcJson = JsonNode.Parse(ResourceJson.Serialize(spc))!;
        Assert.Equal(3, (int)spcJson["spec"]!["maxPools"]!);
        Assert.Equal("striped", (string?)spcJson["spec"]!["poolSpec"]!["poolType"]);
        Assert.True(spcJson["metadata"]!["annotations"]!.AsObject().ContainsKey("cas.openebs.io/config")); // keys as they are

        var sc = ManifestParser.Parse(ExampleManifestTests.StorageClassJson, "sc.json")[0];
        Assert.Equal(["apiVersion", "kind", "metadata", "provisioner"], JsonNode.Parse(ResourceJson.Serialize(sc))!.AsObject().Select(p => p.Key));
    }

    [Fact]
    public void RoundTrip()
    {
        var pv = SomeVolume();
        byte[] bytes = ResourceJson.Serialize(pv);
        var back = Assert.IsType<Volume>(ResourceJson.Deserialize(bytes, ResourceKind.Volume));
        Assert.Equal(0, back.Metadata.ResourceVersion);
        back.Metadata.ResourceVersion = pv.Metadata.ResourceVersion;
        Assert.Equal(bytes, ResourceJson.Serialize(back));
        Assert.Equal(pv.Metadata.CreationTimestamp, back.Metadata.CreationTimestamp);
        Assert.Equal("node-1", back.Spec.Replicas[0].Node);
        Assert.Equal("Healthy", back.Status.Conditions![0].Reason);

        foreach (var resource in ManifestParser.Parse(string.Join("\n", ExampleManifestTests.PoolClaimJson, ExampleManifestTests.StorageClassJson, ExampleManifestTests.ClaimJson), "all.json"))
        {
            byte[] json = ResourceJson.Serialize(resource);
            var again = ResourceJson.Deserialize(json, resource.Descriptor);
            Assert.IsType(resource.GetType(), again);
            Assert.Equal(json, ResourceJson.Serialize(again));
        }
        ExampleManifestTests.AssertPoolClaim(ResourceJson.Deserialize(ResourceJson.Serialize(ManifestParser.Parse(ExampleManifestTests.PoolClaimJson, "x")[0]), ResourceKind.StoragePoolClaim));
        ExampleManifestTests.AssertStorageClass(ResourceJson.Deserialize(ResourceJson.Serialize(ManifestParser.Parse(ExampleManifestTests.StorageClassJson, "x")[0]), ResourceKind.StorageClass));
        ExampleManifestTests.AssertClaim(ResourceJson.Deserialize(ResourceJson.Serialize(ManifestParser.Parse(ExampleManifestTests.ClaimJson, "x")[0]), ResourceKind.PersistentVolumeClaim));
    }

    [Fact]
    public void StoredRecordsToleratesFieldsFromANewerVersion()
    {
        string json = """{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"a","namespace":"default"},"spec":{"accessModes":["ReadWriteOnce"],"future":1},"status":{}}""";
        var pvc = Assert.IsType<PersistentVolumeClaim>(ResourceJson.Deserialize(Encoding.UTF8.GetBytes(json), ResourceKind.PersistentVolumeClaim));
        Assert.Equal("a", pvc.Metadata.Name);
    }

    [Fact]
    public void EventsAndEnumsUseTheSameOptions()
    {
        var e = new ResourceEvent { Reason = "Provisioned", Message = "made", Source = "control-plane", FirstTimestamp = DateTimeOffset.UnixEpoch };
        string json = JsonSerializer.Serialize(e, ResourceJson.Options);
        Assert.Contains("\"firstTimestamp\":\"1970-01-01T00:00:00+00:00\"", json, StringComparison.Ordinal);
        Assert.Contains("\"Normal\"", JsonSerializer.Serialize(new { Kind = DateTimeKind.Local, Type = "Normal" }, ResourceJson.Options), StringComparison.Ordinal);
        Assert.Contains("\"kind\":\"Local\"", JsonSerializer.Serialize(new { Kind = DateTimeKind.Local }, ResourceJson.Options), StringComparison.Ordinal);
    }

    [Fact]
    public void ToJsonIsIndented()
    {
        string json = ResourceJson.ToJson(Claim());
        Assert.StartsWith("{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"PersistentVolumeClaim\",\n  \"metadata\": {", json.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        ExampleManifestTests.AssertClaim(Assert.Single(ManifestParser.Parse(json, "out.json")));
        string sc = ResourceJson.ToJson(ManifestParser.Parse(ExampleManifestTests.StorageClassJson, "sc.json")[0]);
        Assert.Contains("\"cas.openebs.io/config\": \"- name: StoragePoolClaim\\n  value: \\\"cstor-pool\\\"\\n", sc, StringComparison.Ordinal);
    }

    [Fact]
    public void ToYamlIsKubectlLike()
    {
        string yaml = ResourceJson.ToYaml(Claim());
        Assert.Equal("""
            apiVersion: v1
            kind: PersistentVolumeClaim
            metadata:
              name: mongo-pvc
              namespace: default
            spec:
              accessModes:
              - ReadWriteOnce
              storageClassName: openebs-sparse-sc
              resources:
                requests:
                  storage: 1Gi
            status: {}

            """.ReplaceLineEndings("\n"), yaml.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void ToYamlParsesBack()
    {
        // A bound claim as the control plane stores it: its status and server-owned metadata are dropped on the way back.
        var pvc = Claim();
        pvc.Metadata.Uid = "0d1b7a0c-8a4e-4b1e-9d4a-1f0c2b3a4d5e";
        pvc.Metadata.CreationTimestamp = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        pvc.Metadata.Labels = new() { ["app"] = "mongo", ["version"] = "2", ["enabled"] = "true", ["empty"] = "" };
        pvc.Spec.VolumeName = "pvc-0d1b7a0c";
        pvc.Status.Phase = "Bound";
        pvc.Status.Capacity = new() { ["storage"] = "1Gi" };
        string yaml = ResourceJson.ToYaml(pvc);
        Assert.Contains("version: \"2\"", yaml, StringComparison.Ordinal);
        Assert.Contains("enabled: \"true\"", yaml, StringComparison.Ordinal);
        Assert.Contains("creationTimestamp: \"2026-01-02T03:04:05+00:00\"", yaml, StringComparison.Ordinal);
        Assert.Contains("phase: Bound", yaml, StringComparison.Ordinal);

        var back = Assert.IsType<PersistentVolumeClaim>(Assert.Single(ManifestParser.Parse(yaml, "get.yaml")));
        ExampleManifestTests.AssertClaim(back);
        Assert.Equal(pvc.Metadata.Labels, back.Metadata.Labels);
        Assert.Equal("pvc-0d1b7a0c", back.Spec.VolumeName);
        Assert.Null(back.Status.Phase);
        Assert.Null(back.Metadata.Uid);
    }

    [Fact]
    public void ToYamlWritesTheCasConfigAsABlockScalar()
    {
        foreach (var resource in ManifestParser.Parse(ExampleManifestTests.PoolClaimJson + ExampleManifestTests.StorageClassJson, "x.json"))
        {
            string yaml = ResourceJson.ToYaml(resource);
            Assert.Contains("cas.openebs.io/config: |", yaml, StringComparison.Ordinal);
            Assert.Contains("openebs.io", yaml, StringComparison.Ordinal);
            var back = Assert.Single(ManifestParser.Parse(yaml, "get.yaml"));
            Assert.Equal(ResourceJson.Serialize(resource), ResourceJson.Serialize(back));
        }
        string sc = ResourceJson.ToYaml(ManifestParser.Parse(ExampleManifestTests.StorageClassJson, "x.json")[0]);
        Assert.Contains("""
                cas.openebs.io/config: |
                  - name: StoragePoolClaim
                    value: "cstor-pool"
                  - name: ReplicaCount
                    value: "2"
            """.ReplaceLineEndings("\n"), sc.ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }

    [Fact]
    public void ToYamlOfControlPlaneKindsReadsBackUnvalidated()
    {
        var pv = SomeVolume();
        var back = Assert.IsType<Volume>(Assert.Single(ManifestParser.Parse(ResourceJson.ToYaml(pv), "pv.yaml", validate: false)));
        Assert.Equal(pv.Spec.Iscsi.Iqn, back.Spec.Iscsi.Iqn);
        Assert.Equal(2, back.Spec.ReplicaCount);
        Assert.Null(back.Status.Phase); // status is the control plane's: not read from manifests
        Assert.Throws<ManifestException>(() => ManifestParser.Parse(ResourceJson.ToYaml(pv), "pv.yaml"));
    }

    [Fact]
    public void ToYamlQuotesWhatWouldReadBackAsSomethingElse()
    {
        var pvc = Claim();
        pvc.Metadata.Annotations = new()
        {
            ["a"] = "2", ["b"] = "1e9", ["c"] = "null", ["d"] = "", ["e"] = "yes", ["f"] = "0x10", ["g"] = "~", ["h"] = "- x",
            ["i"] = "a: b", ["j"] = "#x", ["k"] = "plain words", ["l"] = ".inf", ["m"] = "1_000", ["n"] = "trailing \n", ["o"] = "  lead",
        };
        string yaml = ResourceJson.ToYaml(pvc);
        var back = Assert.Single(ManifestParser.Parse(yaml, "q.yaml"));
        Assert.Equal(pvc.Metadata.Annotations, back.Metadata.Annotations);
        Assert.Contains("k: plain words", yaml, StringComparison.Ordinal);
        Assert.Contains("a: \"2\"", yaml, StringComparison.Ordinal);
    }
}
