using Strata.Control.Manifests;
using Strata.Control.Resources;
using Xunit;

namespace Strata.Control.Tests;

/// <summary>How documents become typed resources: scalars, the fields accepted and dropped, apiVersions.</summary>
public class ManifestParserTests
{
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
              storage: STORAGE
        """;

    private static PersistentVolumeClaim ClaimWith(string storage) =>
        Assert.IsType<PersistentVolumeClaim>(Assert.Single(ManifestParser.Parse(Claim.Replace("STORAGE", storage, StringComparison.Ordinal), "pvc.yaml")));

    [Theory]
    [InlineData("1Gi", "1Gi")]
    [InlineData("1073741824", "1073741824")] // a YAML number where a string is expected: its text
    [InlineData("\"1073741824\"", "1073741824")]
    [InlineData("'1Gi'", "1Gi")]
    [InlineData("1e9", "1e9")]
    [InlineData("1.5Gi", "1.5Gi")]
    public void NumbersAreAcceptedForQuantities(string yaml, string stored)
    {
        var pvc = ClaimWith(yaml);
        Assert.Equal(stored, pvc.Spec.Resources.Requests["storage"]);
        Assert.True(Quantity.TryParse(stored, out long bytes) && bytes > 0);
    }

    [Fact]
    public void NumberForQuantityInJson()
    {
        string json = ExampleManifestTests.ClaimJson.Replace("\"1Gi\"", "1073741824", StringComparison.Ordinal);
        var pvc = Assert.IsType<PersistentVolumeClaim>(Assert.Single(ManifestParser.Parse(json, "pvc.json")));
        Assert.Equal("1073741824", pvc.Spec.Resources.Requests["storage"]);
    }

    [Fact]
    public void QuotedNumbersStayStringsAndPlainOnesAreNumbers()
    {
        // ReplicaCount "2" in the annotation is a string in a string; maxPools 3 is a number.
        var spc = Assert.IsType<StoragePoolClaim>(Assert.Single(ManifestParser.Parse("""
            apiVersion: openebs.io/v1alpha1
            kind: StoragePoolClaim
            metadata: {name: p}
            spec: {type: sparse, maxPools: 0x3, minPools: +1, poolSpec: {poolType: mirrored, overProvisioning: true, thickProvisioning: False, compression: "off"}}
            """, "spc.yaml")));
        Assert.Equal(3, spc.Spec.MaxPools);
        Assert.Equal(1, spc.Spec.MinPools);
        Assert.Equal("mirrored", spc.Spec.PoolSpec.PoolType);
        Assert.True(spc.Spec.PoolSpec.OverProvisioning);
        Assert.False(spc.Spec.PoolSpec.ThickProvisioning);
        Assert.Equal("off", spc.Spec.PoolSpec.Compression);
    }

    [Fact]
    public void NullFieldsAreAbsent()
    {
        var spc = Assert.IsType<StoragePoolClaim>(Assert.Single(ManifestParser.Parse("""
            apiVersion: openebs.io/v1alpha1
            kind: StoragePoolClaim
            metadata:
              name: p
              labels:
              annotations: ~
            spec:
              name:
              type: sparse
              maxPools: 2
              minPools: null
              poolSpec:
            status:
            """, "spc.yaml")));
        Assert.Null(spc.Spec.Name);
        Assert.Null(spc.Spec.MinPools);
        Assert.Null(spc.Metadata.Labels);
        Assert.Equal("striped", spc.Spec.PoolSpec.PoolType); // the default stands
    }

    [Fact]
    public void StatusAndServerOwnedMetadataAreDropped()
    {
        var pvc = Assert.IsType<PersistentVolumeClaim>(Assert.Single(ManifestParser.Parse("""
            apiVersion: v1
            kind: PersistentVolumeClaim
            metadata:
              name: mongo-pvc
              namespace: default
              uid: 0d1b7a0c-8a4e-4b1e-9d4a-1f0c2b3a4d5e
              resourceVersion: "12345"
              generation: 2
              creationTimestamp: "2019-06-01T10:00:00Z"
              finalizers: [kubernetes.io/pvc-protection]
              managedFields: [{manager: kubectl, operation: Update}]
              selfLink: /api/v1/namespaces/default/persistentvolumeclaims/mongo-pvc
              labels: {app: mongo}
              annotations:
                pv.kubernetes.io/bind-completed: "yes"
            spec:
              accessModes: [ReadWriteOnce]
              storageClassName: openebs-sparse-sc
              volumeMode: Filesystem
              volumeName: pvc-0d1b7a0c-8a4e-4b1e-9d4a-1f0c2b3a4d5e
              resources: {requests: {storage: 1Gi}}
            status:
              phase: Bound
              capacity: {storage: 1Gi}
              whatever: [1, 2]
            """, "pvc.yaml")));
        Assert.Null(pvc.Metadata.Uid);
        Assert.Null(pvc.Metadata.CreationTimestamp);
        Assert.Equal(0, pvc.Metadata.ResourceVersion);
        Assert.Null(pvc.Status.Phase);
        Assert.Equal("mongo", pvc.Metadata.Labels!["app"]);
        Assert.Equal("yes", pvc.Metadata.Annotations!["pv.kubernetes.io/bind-completed"]);
        Assert.Equal("Filesystem", pvc.Spec.VolumeMode);
    }

    [Fact]
    public void NamespaceDefaultsForClaimsAndIsDroppedForClusterKinds()
    {
        Assert.Equal("default", ClaimWith("1Gi").Metadata.Namespace);
        var sc = Assert.IsType<StorageClass>(Assert.Single(ManifestParser.Parse(
            ExampleManifestTests.StorageClassJson.Replace("\"name\": \"openebs-sparse-sc\",", "\"name\": \"openebs-sparse-sc\", \"namespace\": \"openebs\",", StringComparison.Ordinal), "sc.json")));
        Assert.Null(sc.Metadata.Namespace);
    }

    [Fact]
    public void StorageClassV1beta1IsStoredAsV1()
    {
        var sc = Assert.Single(ManifestParser.Parse(ExampleManifestTests.StorageClassJson.Replace("storage.k8s.io/v1", "storage.k8s.io/v1beta1", StringComparison.Ordinal), "sc.json"));
        Assert.Equal("storage.k8s.io/v1", sc.ApiVersion);
    }

    [Fact]
    public void DiskPoolClaimWithBlockDevices()
    {
        var spc = Assert.IsType<StoragePoolClaim>(Assert.Single(ManifestParser.Parse("""
            apiVersion: openebs.io/v1alpha1
            kind: StoragePoolClaim
            metadata:
              name: cstor-disk-pool
            spec:
              name: cstor-disk-pool
              type: disk
              poolSpec:
                poolType: striped
              blockDevices:
                blockDeviceList:
                - blockdevice-9214d585-1b63-4bd4-a500-0f1a2c5f7af4
                - blockdevice-e69f6903-176b-4034-aaf8-40d5f09e577e
            """, "disk.yaml")));
        Assert.Equal(2, spc.Spec.BlockDevices!.BlockDeviceList.Count);
        Assert.Null(spc.Spec.MaxPools);
        var old = Assert.IsType<StoragePoolClaim>(Assert.Single(ManifestParser.Parse("""
            apiVersion: openebs.io/v1alpha1
            kind: StoragePoolClaim
            metadata: {name: cstor-disk}
            spec: {type: disk, disks: {diskList: [disk-1, disk-2]}}
            """, "disk09.yaml")));
        Assert.Equal(["disk-1", "disk-2"], old.Spec.Disks!.DiskList);
        Assert.Equal(2, Assert.IsType<StoragePoolClaim>(Assert.Single(ManifestParser.Parse(
            "apiVersion: openebs.io/v1alpha1\nkind: StoragePoolClaim\nmetadata: {name: d}\nspec: {type: disk, maxPools: 2}\n", "d.yaml"))).Spec.MaxPools);
    }

    [Fact]
    public void AnchorsAliasesAndMergeKeys()
    {
        var resources = ManifestParser.Parse("""
            apiVersion: v1
            kind: List
            items:
            - &claim
              apiVersion: v1
              kind: PersistentVolumeClaim
              metadata: {name: a}
              spec: &spec {accessModes: [ReadWriteOnce], storageClassName: sc, resources: {requests: {storage: 1Gi}}}
            - apiVersion: v1
              kind: PersistentVolumeClaim
              metadata: {name: b}
              spec:
                <<: *spec
                storageClassName: other
            """, "aliases.yaml");
        Assert.Equal(2, resources.Count);
        var b = Assert.IsType<PersistentVolumeClaim>(resources[1]);
        Assert.Equal("other", b.Spec.StorageClassName);
        Assert.Equal("1Gi", b.Spec.Resources.Requests["storage"]);
    }

    [Fact]
    public void ControlPlaneKindsParseWithoutValidation()
    {
        var pv = Assert.IsType<Volume>(Assert.Single(ManifestParser.Parse("""
            apiVersion: v1
            kind: PersistentVolume
            metadata: {name: pvc-1}
            spec:
              capacity: {storage: 1Gi}
              sizeBytes: 1073741824
              accessModes: [ReadWriteOnce]
              persistentVolumeReclaimPolicy: Retain
              replicaCount: 2
              iscsi: {iqn: "iqn.2026-11.io.strata:pvc-1", lun: 0, fsType: xfs}
            """, "pv.yaml", validate: false)));
        Assert.Equal("Retain", pv.Spec.PersistentVolumeReclaimPolicy);
        Assert.Equal(1073741824, pv.Spec.SizeBytes);
        Assert.Equal("xfs", pv.Spec.Iscsi.FsType);
    }
}
