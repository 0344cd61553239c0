namespace Strata.Iscsi.Session;

/// <summary>
/// A bound on the bytes of task buffers held at once, per session and per portal. A buffer is charged when a
/// command rents it and credited when its response is on the wire (or the command is gone). Commands beyond
/// the bound never get a buffer: the initiator sees TASK SET FULL and retries, instead of the target running out
/// of memory for commands whose data may never come.
/// </summary>
internal sealed class TaskBufferBudget(long limit)
{
    private long _used;

    public long Used => Interlocked.Read(ref _used);

    public bool TryTake(long bytes)
    {
        long used = Interlocked.Read(ref _used);
        while (true)
        {
            if (used + bytes > limit)
            {
                return false;
            }

            long seen = Interlocked.CompareExchange(ref _used, used + bytes, used);
            if (seen == used)
            {
                return true;
            }

            used = seen;
        }
    }

    public void Give(long bytes) => Interlocked.Add(ref _used, -bytes);
}
