using JP1Dist.Engine.Protocol;
namespace JP1Dist.Engine.Manager;
public sealed partial class ManagerNode
{
    public Task<bool> IsAtOrBelowAsync(Guid hostId, Guid relayId, CancellationToken cancellationToken) => throw new NotImplementedException();
    public Task<bool> IsRelayAsync(Guid hostId, CancellationToken cancellationToken) => throw new NotImplementedException();
    public Task<RelayWorkResponse> WaitForRelayWorkAsync(Guid relayId, TimeSpan wait, string? etag, CancellationToken cancellationToken) => throw new NotImplementedException();
    public Task<RelayBatchResponse> ApplyRelayBatchAsync(Guid relayId, RelayBatch batch, CancellationToken cancellationToken) => throw new NotImplementedException();
}
