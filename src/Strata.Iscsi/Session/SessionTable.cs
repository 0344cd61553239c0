using Strata.Iscsi.Target;

namespace Strata.Iscsi.Session;

/// <summary>
/// The sessions of one target server, by TSIH and by initiator port: a login with the ISID of a live session
/// reinstates it (RFC 7143 6.3.5): the old connection is closed and its tasks finish before the new session
/// takes commands, so no write of the old session can land after one of the new.
/// </summary>
internal sealed class SessionTable
{
    private readonly Dictionary<ushort, IscsiSession> _byTsih = new();
    private ushort _lastTsih;

    public SessionTable(IscsiTargetServer server)
    {
        Server = server;
        BufferBudget = new TaskBufferBudget(server.Options.MaxTaskBufferBytes);
    }

    /// <summary>Task buffer bytes of all sessions together.</summary>
    public TaskBufferBudget BufferBudget { get; }

    public IscsiTargetServer Server { get; }

    public int Count
    {
        get
        {
            lock (_byTsih)
            {
                return _byTsih.Count;
            }
        }
    }

    public IscsiSession? FindByTsih(ushort tsih)
    {
        lock (_byTsih)
        {
            return _byTsih.GetValueOrDefault(tsih);
        }
    }

    public async Task<IscsiSession> OpenAsync(IscsiConnection connection, ulong isid, Login.TargetLoginPolicy? policy)
    {
        IscsiTarget? target = null;
        if (policy is not null)
        {
            target = Server.FindTarget(policy.Name) ?? throw new InvalidOperationException($"target {policy.Name} is gone");
            IscsiSession? old = null;
            lock (_byTsih)
            {
                foreach (var s in _byTsih.Values)
                {
                    if (s.Target == target && s.Isid == isid && s.InitiatorName == connection.Parameters.InitiatorName)
                    {
                        old = s;
                        break;
                    }
                }
            }

            if (old is not null)
            {
                Server.Log($"reinstating session {old.Tsih:x4} of {old.InitiatorName} (ISID {isid:x12})");
                old.Connection.Close("session reinstated by a new login");
                await old.Ended.ConfigureAwait(false);
            }
        }

        lock (_byTsih)
        {
            ushort tsih;
            do
            {
                tsih = ++_lastTsih;
            }
            while (tsih == 0 || _byTsih.ContainsKey(tsih));

            var session = new IscsiSession(this, connection, isid, tsih, target, Server.Options.TargetPortalGroupTag);
            _byTsih[tsih] = session;
            return session;
        }
    }

    public IscsiSession[] All()
    {
        lock (_byTsih)
        {
            return [.. _byTsih.Values];
        }
    }

    public void Remove(IscsiSession session)
    {
        lock (_byTsih)
        {
            if (_byTsih.TryGetValue(session.Tsih, out var s) && s == session)
            {
                _byTsih.Remove(session.Tsih);
            }
        }
    }
}
