using System.CommandLine;
using JP1Dist.AgentHost;

return await Commands.Build().Parse(args).InvokeAsync();
