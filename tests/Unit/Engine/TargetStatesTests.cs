using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Protocol;
using Xunit;

namespace JP1Dist.Tests.Engine;

public sealed class TargetStatesTests
{
    [Theory]
    [InlineData(TargetStatus.Succeeded)]
    [InlineData(TargetStatus.Failed)]
    [InlineData(TargetStatus.ConditionNotMet)]
    [InlineData(TargetStatus.Canceled)]
    [InlineData(TargetStatus.StoredOnRelay)]
    public void Final_states_leave_only_by_re_execution(TargetStatus final)
    {
        Assert.True(final.IsFinal());
        Assert.All(Enum.GetValues<TargetStatus>(), to => Assert.False(TargetStates.CanMove(final, to)));
    }

    [Fact]
    public void A_report_cannot_move_a_target_backwards()
    {
        Assert.False(TargetStates.CanMove(TargetStatus.Installing, TargetStatus.Transferring));
        Assert.False(TargetStates.CanMove(TargetStatus.Transferred, TargetStatus.Queued));
        Assert.Contains(TargetStatus.Queued, TargetStates.Predecessors(TargetStatus.Transferring));
        Assert.DoesNotContain(TargetStatus.Succeeded, TargetStates.Predecessors(TargetStatus.Failed));
    }

    [Fact]
    public void Every_state_has_a_transition_entry()
    {
        foreach (var status in Enum.GetValues<TargetStatus>())
        {
            _ = TargetStates.CanMove(status, TargetStatus.Canceled); // throws when a state is missing from the table
        }
    }
}
