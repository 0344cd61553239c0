namespace Strata.Replication.Volume;

// Changing which replicas the volume has while it serves: the control plane replaced one whose node stayed away.
public sealed partial class ReplicatedVolume
{
    /// <summary>
    /// Adds replica <paramref name="name"/> while the volume serves. Nothing is known of what it holds, so it gets a
    /// full copy (skipping what is unmapped) from the in-sync replicas, like a replica out of the set at open, and joins
    /// the set by compare-and-swap when nothing is missing. Adding a replica the volume has is a no-op.
    /// </summary>
    public void AddReplica(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        lock (_gate)
        {
            if (_stop.IsCancellationRequested || Array.Exists(_members, m => m.Name == name))
            {
                return;
            }

            var member = new ReplicaMember(name, Grains) { NeedsFullCopy = true, Reason = "added to the volume; opening it" };
            member.Missing.Set(0, Grains);
            _members = [.. _members, member];
            Publish(); // wakes the supervisor, which opens and rebuilds it
        }

        _options.Log($"volume {VolumeId}: replica {name} added; it gets a full copy");
    }

    /// <summary>
    /// Takes replica <paramref name="name"/> out of the volume for good: no change or read goes to it any more, its
    /// reconnect or rebuild stops, what it missed is forgotten, and its connection is closed. If the store still
    /// records it in sync, changes are acknowledged again only once its removal is recorded, as for a failure (a
    /// later target must never trust its copy). False, and nothing done, while it is the only in-sync replica this
    /// target reaches: the volume would have nothing to serve from (the control plane never asks for that; if it
    /// happens, the caller asks again later). Removing a replica the volume does not have is a no-op (true).
    /// </summary>
    public bool RemoveReplica(string name)
    {
        ReplicaMember? member;
        IBlockDevice? device;
        CancellationTokenSource? restoring;
        lock (_gate)
        {
            member = Array.Find(_members, m => m.Name == name);
            if (member is null)
            {
                return true;
            }

            var inSync = _view.InSync;
            if (inSync.Length == 1 && inSync[0] == member)
            {
                return false;
            }

            _members = Array.FindAll(_members, m => m != member);
            member.Removed = true;
            member.Role = ReplicaRole.Offline;
            member.WantInSync = false;
            member.Reason = "removed from the volume";

            // The device stays set: a change that read an older view may still start on it, fail on the closed
            // connection, and that failure is ignored (ResolveFailures, Failed).
            device = member.Device;
            restoring = member.Restoring;
            Publish();
        }

        try
        {
            restoring?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // the restore already ended
        }

        if (device is not null)
        {
            _ = CloseQuietlyAsync(device);
        }

        _options.Log($"volume {VolumeId}: replica {name} removed from the volume");
        KickRecorder();
        return true;
    }
}
