using System.Runtime.CompilerServices;
using Strata.Replication.Protocol;
using Strata.Replication.Server;

namespace Strata.Replication;

/// <summary>
/// A volume replica on this node's <see cref="ReplicaServer"/>, reached in process by a target on the same node
/// (<see cref="ReplicaServer.OpenLocalAsync"/>): the same session a <see cref="ReplicaClient"/> gets over TCP, without
/// the socket, the framing, the checksums and the copies. Opening it is a Hello at the target's epoch through the
/// server's fence and epoch store, and every device call is admitted by that fence, so the epoch rules hold exactly as
/// over TCP (docs/replication.md, "The local replica"): a newer target anywhere fences this one (every call then
/// fails with <see cref="BlockDeviceErrorKind.Fenced"/>), and this one, at a newer epoch, fences and drains the older
/// sessions. Errors come as a client would give them: the device's <see cref="BlockDeviceException"/> kind, any other
/// failure as Medium; calls after the server stops fail with Unavailable. Disposing it ends the session as Goodbye
/// does: the calls in flight finish, later ones fail with <see cref="ObjectDisposedException"/>.
/// </summary>
/// <remarks>
/// Buffers go to the device as the caller gave them. A cancellation token is observed until the call reaches the
/// device (as a client observes it until the request is sent); the device call then runs to its end.
/// </remarks>
public sealed class LocalReplica : IBlockDevice, IAllocationMap, IWriteIntent
{
    /// <summary>How long opening waits for older sessions' calls to drain, as a client waits for HelloOk.</summary>
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(15);

    private readonly ReplicaServer _server;
    private readonly FenceSession _session;
    private readonly IBlockDevice _device;
    private readonly WriteIntentLog _intent;
    private volatile string? _stopped;
    private int _disposed;

    private LocalReplica(ReplicaServer server, string volumeId, FenceSession session, IBlockDevice device, WriteIntentLog intent)
    {
        _server = server;
        VolumeId = volumeId;
        _session = session;
        _device = device;
        _intent = intent;
        BlockSize = device.BlockSize;
        BlockCount = device.BlockCount;
    }

    public string VolumeId { get; }

    public long Epoch => _session.Epoch;

    public int BlockSize { get; }

    public long BlockCount { get; }

    internal static async Task<LocalReplica> OpenAsync(ReplicaServer server, string volumeId, long epoch, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(volumeId);
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        ct.ThrowIfCancellationRequested();
        var hello = server.HelloAsync(volumeId, epoch);
        try
        {
            await hello.WaitAsync(HelloTimeout, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // The Hello goes on (it cannot be taken back once the epoch is stored); its session ends when it is accepted.
            _ = AbandonAsync(hello);
            if (e is OperationCanceledException)
            {
                throw;
            }

            throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable,
                $"the local replica of volume {volumeId} did not accept epoch {epoch} within {HelloTimeout.TotalSeconds:0} s: older targets' writes are still in flight", e);
        }

        var admission = await hello.ConfigureAwait(false);
        if (admission.Session is not { } session || admission.Device is not { } device || admission.Intent is not { } intent)
        {
            throw new BlockDeviceException(admission.Status.ToErrorKind(),
                $"the local replica server refused volume {volumeId} at epoch {epoch}: {admission.Message}");
        }

        var local = new LocalReplica(server, volumeId, session, device, intent);
        if (!server.TryTrack(local))
        {
            await session.Fence.LeaveAsync(session).ConfigureAwait(false);
            throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, $"the local replica server of volume {volumeId} is stopped");
        }

        return local;
    }

    /// <summary>Ends the session of a Hello its opener gave up on, once the Hello is accepted.</summary>
    private static async Task AbandonAsync(Task<HelloAdmission> hello)
    {
        if ((await hello.ConfigureAwait(false)).Session is { } session)
        {
            await session.Fence.LeaveAsync(session).ConfigureAwait(false);
        }
    }

    public ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken ct = default) =>
        Call(new Read(lba, buffer), ct);

    public ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct = default) =>
        Call(new Write(lba, data, flags, BlockSize), ct);

    /// <summary>A flush, as the server runs one: its write-intent generation is taken first, and kept for Settle once it completed.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask FlushAsync(CancellationToken ct = default)
    {
        int generation = _intent.FlushStarting();
        await Call(default(Flush), ct).ConfigureAwait(false);
        _session.Flushed(generation);
    }

    /// <summary>The set regions of the volume's write-intent bitmap (the one the replica server keeps for every session).</summary>
    public Task<WriteIntent> GetIntentAsync(CancellationToken ct = default)
    {
        if (Refusal(ct) is { } refused)
        {
            return Task.FromException<WriteIntent>(refused);
        }

        try
        {
            return Task.FromResult(_intent.ToIntent());
        }
        finally
        {
            _session.End();
        }
    }

    /// <summary>Clears the regions settled by the last flush of this session that completed, as Settle does over TCP.</summary>
    public ValueTask SettleAsync(CancellationToken ct = default)
    {
        if (Refusal(ct) is { } refused)
        {
            return ValueTask.FromException(refused);
        }

        try
        {
            _intent.Settle(_session.FlushedGeneration);
            return ValueTask.CompletedTask;
        }
        finally
        {
            _session.End();
        }
    }

    public ValueTask UnmapAsync(long lba, long blockCount, CancellationToken ct = default) =>
        Call(new Unmap(lba, blockCount), ct);

    /// <summary>
    /// Asks the volume's allocation map, as GetExtent asks the server: at least 1 block, at most
    /// <paramref name="maxBlocks"/> and the end of the device; a device without a map has every block mapped.
    /// </summary>
    public ValueTask<(bool Mapped, long Blocks)> GetExtentAsync(long lba, long maxBlocks, CancellationToken ct = default)
    {
        if (lba < 0 || lba >= BlockCount)
        {
            throw BlockDeviceException.OutOfRange(lba, 1, BlockCount);
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(maxBlocks, 1);
        long count = Math.Min(maxBlocks, BlockCount - lba);
        if (Refusal(ct) is { } refused)
        {
            return ValueTask.FromException<(bool, long)>(refused);
        }

        if (_device is not IAllocationMap map)
        {
            _session.End();
            return ValueTask.FromResult((true, count));
        }

        ValueTask<(bool Mapped, long Blocks)> pending;
        try
        {
            pending = map.GetExtentAsync(lba, count);
        }
        catch (Exception e)
        {
            _session.End();
            return ValueTask.FromException<(bool, long)>(Failure(e, nameof(Opcode.GetExtent), lba));
        }

        if (pending.IsCompletedSuccessfully)
        {
            _session.End();
            var answer = pending.Result;
            return answer.Blocks >= 1 && answer.Blocks <= count
                ? ValueTask.FromResult(answer)
                : ValueTask.FromException<(bool, long)>(BadExtent(answer.Blocks, count));
        }

        return AwaitExtentAsync(pending, lba, count);
    }

    /// <summary>Ends the session as Goodbye does: no more calls, and returns when those in flight are done.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _session.Fence.LeaveAsync(_session).ConfigureAwait(false);
        _server.Untrack(this);
    }

    /// <summary>The server stops: calls from now on fail with Unavailable; returns when those in flight are done.</summary>
    internal Task StopAsync(string why)
    {
        _stopped ??= why;
        return _session.Fence.LeaveAsync(_session);
    }

    /// <summary>
    /// Starts one device call under the fence. Generic over the call's struct, so each is a direct call with nothing
    /// boxed; a call that does not complete at once is awaited in a pooled state machine.
    /// </summary>
    private ValueTask Call<TCall>(TCall call, CancellationToken ct)
        where TCall : struct, IDeviceCall
    {
        if (Refusal(ct) is { } refused)
        {
            return ValueTask.FromException(refused);
        }

        // A change in range is counted in its write-intent regions (whose bits are durable before it is applied);
        // one out of range goes to the device, which refuses it.
        long counted = call.Blocks > 0 && call.Lba >= 0 && call.Lba <= BlockCount - call.Blocks ? call.Blocks : 0;
        if (counted > 0)
        {
            ValueTask persisting;
            try
            {
                persisting = _intent.Begin(call.Lba, counted);
            }
            catch (Exception e)
            {
                persisting = ValueTask.FromException(e);
            }

            if (!persisting.IsCompletedSuccessfully)
            {
                return AfterIntentAsync(persisting, call, counted);
            }
        }

        return Start(call, counted);
    }

    /// <summary>A change whose region bits are being written: it starts once they are durable.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask AfterIntentAsync<TCall>(ValueTask persisting, TCall call, long counted)
        where TCall : struct, IDeviceCall
    {
        try
        {
            await persisting.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Finish(call.Lba, counted);
            throw new BlockDeviceException(BlockDeviceErrorKind.Medium, $"{call.Name} at LBA {call.Lba} not applied: its write-intent bit could not be kept: {e.Message}", e);
        }

        await Start(call, counted).ConfigureAwait(false);
    }

    /// <summary>Starts the device call of an admitted call; <paramref name="counted"/> blocks of it are in flight in the write-intent log.</summary>
    private ValueTask Start<TCall>(TCall call, long counted)
        where TCall : struct, IDeviceCall
    {
        ValueTask pending;
        try
        {
            pending = call.Start(_device);
        }
        catch (Exception e) when (e is ArgumentException or BlockDeviceException)
        {
            // The device checks its arguments before it starts (a client checks the same before it sends).
            Finish(call.Lba, counted);
            throw;
        }
        catch (Exception e)
        {
            Finish(call.Lba, counted);
            return ValueTask.FromException(Failure(e, call.Name, call.Lba));
        }

        if (!pending.IsCompleted)
        {
            return AwaitAsync(pending, call.Name, call.Lba, counted);
        }

        try
        {
            pending.GetAwaiter().GetResult();
            return ValueTask.CompletedTask;
        }
        catch (Exception e)
        {
            return ValueTask.FromException(Failure(e, call.Name, call.Lba));
        }
        finally
        {
            Finish(call.Lba, counted);
        }
    }

    /// <summary>A call ended: out of the write-intent log's in-flight count (when it was counted), then out of the fence.</summary>
    private void Finish(long lba, long counted)
    {
        _intent.End(lba, counted);
        _session.End();
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask AwaitAsync(ValueTask pending, string name, long lba, long counted)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not BlockDeviceException)
        {
            throw Failure(e, name, lba);
        }
        finally
        {
            Finish(lba, counted);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<(bool Mapped, long Blocks)> AwaitExtentAsync(ValueTask<(bool Mapped, long Blocks)> pending, long lba, long count)
    {
        (bool Mapped, long Blocks) answer;
        try
        {
            answer = await pending.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not BlockDeviceException)
        {
            throw Failure(e, nameof(Opcode.GetExtent), lba);
        }
        finally
        {
            _session.End();
        }

        return answer.Blocks >= 1 && answer.Blocks <= count ? answer : throw BadExtent(answer.Blocks, count);
    }

    /// <summary>
    /// Admits a call (the caller then owes <see cref="FenceSession.End"/>), or says why not: fenced first (sticky, as a
    /// client's Fenced is), then the server stopped, then disposed; cancellation before the call starts.
    /// </summary>
    private Exception? Refusal(CancellationToken ct)
    {
        if (!_session.TryBegin())
        {
            if (_session.IsFenced)
            {
                return new BlockDeviceException(BlockDeviceErrorKind.Fenced, _session.FencedMessage());
            }

            return _stopped is { } why
                ? new BlockDeviceException(BlockDeviceErrorKind.Unavailable, $"the local replica of volume {VolumeId} is closed: {why}")
                : new ObjectDisposedException(nameof(LocalReplica), $"the local replica of volume {VolumeId} is closed");
        }

        if (ct.IsCancellationRequested)
        {
            _session.End();
            return new OperationCanceledException(ct);
        }

        return null;
    }

    /// <summary>What a client hears of a device failure: its kind when the device said one, else Medium (as the server answers).</summary>
    private static BlockDeviceException Failure(Exception e, string call, long lba) =>
        e as BlockDeviceException ?? new BlockDeviceException(BlockDeviceErrorKind.Medium, $"{call} at LBA {lba} failed: {e.GetType().Name}: {e.Message}", e);

    private static BlockDeviceException BadExtent(long blocks, long count) =>
        new(BlockDeviceErrorKind.Medium, $"the allocation map answered {blocks} blocks, not 1-{count}");

    /// <summary>One device call, as a value: what to start, how to name it in an error, and the blocks it changes.</summary>
    private interface IDeviceCall
    {
        string Name { get; }

        long Lba { get; }

        /// <summary>Blocks a Write or Unmap changes (counted in the write-intent log); 0 for the others.</summary>
        long Blocks { get; }

        ValueTask Start(IBlockDevice device);
    }

    private readonly record struct Read(long Lba, Memory<byte> Buffer) : IDeviceCall
    {
        public string Name => nameof(Opcode.Read);

        public long Blocks => 0;

        public ValueTask Start(IBlockDevice device) => device.ReadAsync(Lba, Buffer);
    }

    private readonly record struct Write(long Lba, ReadOnlyMemory<byte> Data, WriteFlags Flags, int BlockSize) : IDeviceCall
    {
        public string Name => nameof(Opcode.Write);

        public long Blocks => Data.Length / BlockSize;

        public ValueTask Start(IBlockDevice device) => device.WriteAsync(Lba, Data, Flags);
    }

    private readonly record struct Flush : IDeviceCall
    {
        public string Name => nameof(Opcode.Flush);

        public long Lba => 0;

        public long Blocks => 0;

        public ValueTask Start(IBlockDevice device) => device.FlushAsync();
    }

    private readonly record struct Unmap(long Lba, long BlockCount) : IDeviceCall
    {
        public string Name => nameof(Opcode.Unmap);

        public long Blocks => BlockCount;

        public ValueTask Start(IBlockDevice device) => device.UnmapAsync(Lba, BlockCount);
    }
}
