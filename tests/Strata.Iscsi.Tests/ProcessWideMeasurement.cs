using Xunit;

namespace Strata.Iscsi.Tests;

/// <summary>
/// Tests that measure the whole process (allocated bytes, heap growth, working set) run in this collection, alone:
/// other tests running beside them would count as theirs.
/// </summary>
[CollectionDefinition(nameof(ProcessWideMeasurement), DisableParallelization = true)]
public sealed class ProcessWideMeasurement
{
}
