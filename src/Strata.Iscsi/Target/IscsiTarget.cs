using Strata.Iscsi.Login;
using Strata.Iscsi.Scsi;

namespace Strata.Iscsi.Target;

/// <summary>One iSCSI target: its name and login policy, and the SCSI target device that serves its LUNs.</summary>
public sealed class IscsiTarget
{
    public IscsiTarget(TargetLoginPolicy policy, IScsiTaskExecutor executor)
    {
        Policy = policy;
        Executor = executor;
    }

    public string Name => Policy.Name;

    public TargetLoginPolicy Policy { get; }

    public IScsiTaskExecutor Executor { get; }
}
