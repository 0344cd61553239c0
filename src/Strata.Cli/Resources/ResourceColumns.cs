using System.Globalization;
using System.Text.Json.Nodes;
using Strata.Control;
using Strata.Control.Resources;

namespace Strata.Cli.Resources;

/// <summary>The columns `strata get` shows per kind: the seed's (kubectl get cstorpools, pv, sc) where it shows them.</summary>
internal static class ResourceColumns
{
    public sealed record Column(string Header, Func<JsonNode, string> Value, bool WideOnly = false);

    public static IReadOnlyList<Column> For(ResourceKind kind)
    {
        var name = new Column("NAME", r => Text(r, "metadata.name"));
        var age = new Column("AGE", r => Age(r));
        if (kind == ResourceKind.StoragePool)
        {
            return
            [
                name,
                new("ALLOCATED", r => Human(r, "status.allocatedBytes")),
                new("FREE", r => Human(r, "status.freeBytes")),
                new("CAPACITY", r => Human(r, "status.capacityBytes")),
                new("STATUS", r => Text(r, "status.phase", "Pending")),
                new("TYPE", r => Text(r, "spec.poolType")),
                age,
                new("NODE", r => Text(r, "spec.node"), WideOnly: true),
                new("CLAIM", r => Text(r, "spec.claim"), WideOnly: true),
            ];
        }

        if (kind == ResourceKind.StoragePoolClaim)
        {
            return [name, new("TYPE", r => Text(r, "spec.type")), new("POOLTYPE", r => Text(r, "spec.poolSpec.poolType")), new("MAXPOOLS", r => Text(r, "spec.maxPools", "-")), new("STATUS", r => Status(r)), age];
        }

        if (kind == ResourceKind.StorageClass)
        {
            return
            [
                name, new("PROVISIONER", r => Text(r, "provisioner")), age,
                new("RECLAIMPOLICY", r => Text(r, "reclaimPolicy", "Delete"), WideOnly: true),
            ];
        }

        if (kind == ResourceKind.PersistentVolumeClaim)
        {
            return
            [
                name, new("STATUS", r => Text(r, "status.phase", "Pending")), new("VOLUME", r => Text(r, "spec.volumeName", "")),
                new("CAPACITY", r => Text(r, "status.capacity.storage", "")), new("ACCESS MODES", r => Modes(r["status"]?["accessModes"])),
                new("STORAGECLASS", r => Text(r, "spec.storageClassName")), age,
            ];
        }

        if (kind == ResourceKind.Volume)
        {
            return
            [
                name, new("CAPACITY", r => Text(r, "spec.capacity.storage")), new("ACCESS MODES", r => Modes(r["spec"]?["accessModes"])),
                new("RECLAIM POLICY", r => Text(r, "spec.persistentVolumeReclaimPolicy")), new("STATUS", r => Text(r, "metadata.deletionTimestamp", "") != "" ? "Terminating" : Text(r, "status.phase", "Pending")),
                new("CLAIM", r => $"{Text(r, "spec.claimRef.namespace")}/{Text(r, "spec.claimRef.name")}"), new("STORAGECLASS", r => Text(r, "spec.storageClassName")),
                new("REASON", r => ""), age,
                new("STATE", r => Text(r, "status.state"), WideOnly: true),
                new("PORTAL", r => Text(r, "status.targetPortal", "<none>"), WideOnly: true),
            ];
        }

        if (kind == ResourceKind.VolumeReplica)
        {
            return
            [
                name, new("USED", r => Human(r, "status.usedBytes")), new("ALLOCATED", r => Human(r, "status.allocatedBytes")),
                new("STATUS", r => Status(r)), age,
                new("NODE", r => Text(r, "spec.node"), WideOnly: true), new("POOL", r => Text(r, "spec.pool"), WideOnly: true),
            ];
        }

        if (kind == ResourceKind.BlockDevice)
        {
            return
            [
                name, new("NODENAME", r => Text(r, "spec.node")), new("PATH", r => Text(r, "spec.path")), new("SIZE", r => Human(r, "spec.capacityBytes")),
                new("CLAIMSTATE", r => Text(r, "status.claimState")), new("STATUS", r => Text(r, "status.state")), age,
                new("MODEL", r => Text(r, "spec.model", ""), WideOnly: true), new("SERIAL", r => Text(r, "spec.serial", ""), WideOnly: true),
                new("WHY", r => Text(r, "status.reason", ""), WideOnly: true),
            ];
        }

        return
        [
            name, new("STATUS", r => Text(r, "status.phase", "Unknown")), new("PORTAL", r => Text(r, "spec.iscsiPortal")), age,
            new("VERSION", r => Text(r, "status.version", ""), WideOnly: true),
        ];
    }

    /// <summary>A value by dotted path, or <paramref name="missing"/>.</summary>
    public static string Text(JsonNode r, string path, string missing = "<none>")
    {
        JsonNode? node = r;
        foreach (string part in path.Split('.'))
        {
            node = node?[part];
        }

        return node switch
        {
            null => missing,
            JsonValue v => Convert.ToString(v.GetValue<object>(), CultureInfo.InvariantCulture) ?? missing,
            _ => node.ToJsonString(),
        };
    }

    private static string Human(JsonNode r, string path) =>
        long.TryParse(Text(r, path, "0"), NumberStyles.Integer, CultureInfo.InvariantCulture, out long bytes) ? Quantity.FormatHuman(bytes) : "0";

    private static string Status(JsonNode r) => Text(r, "metadata.deletionTimestamp", "") != "" ? "Deleting" : Text(r, "status.phase", "Pending");

    private static string Modes(JsonNode? modes) =>
        modes is JsonArray a ? string.Join(",", a.Select(m => (string?)m switch
        {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            var other => other ?? "",
        })) : "";

    /// <summary>kubectl's AGE: 45s, 12m, 3h, 2d.</summary>
    public static string Age(JsonNode r)
    {
        if (!DateTimeOffset.TryParse(Text(r, "metadata.creationTimestamp", ""), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var created))
        {
            return "<unknown>";
        }

        return AgeOf(DateTimeOffset.UtcNow - created);
    }

    public static string AgeOf(TimeSpan age) => age.TotalSeconds < 120 ? $"{Math.Max(0, (int)age.TotalSeconds)}s"
        : age.TotalMinutes < 120 ? $"{(int)age.TotalMinutes}m"
        : age.TotalHours < 48 ? $"{(int)age.TotalHours}h"
        : $"{(int)age.TotalDays}d";
}
