using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JP1Dist.Core.Storage.Migrations
{
    /// <inheritdoc />
    public partial class JobTargetCounts : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "JobTargetCounts",
                columns: table => new
                {
                    JobId = table.Column<int>(type: "INTEGER", nullable: false),
                    Status = table.Column<int>(type: "INTEGER", nullable: false),
                    Count = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_JobTargetCounts", x => new { x.JobId, x.Status });
                    table.ForeignKey(
                        name: "FK_JobTargetCounts_Jobs_JobId",
                        column: x => x.JobId,
                        principalTable: "Jobs",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            // Existing jobs get their counts now: the targets counted by (job, status), then a 0 row for every other status
            // of every job (0 to 12, the statuses this migration knows), so that every later change is an UPDATE.
            migrationBuilder.Sql("""
                INSERT INTO "JobTargetCounts" ("JobId", "Status", "Count")
                SELECT "JobId", "Status", COUNT(*) FROM "Targets" GROUP BY "JobId", "Status";
                """);
            migrationBuilder.Sql($"""
                INSERT INTO "JobTargetCounts" ("JobId", "Status", "Count")
                SELECT j."Id", s."Status", 0
                FROM "Jobs" AS j CROSS JOIN ({string.Join(" UNION ALL ", Enumerable.Range(0, 13).Select(v => $"SELECT {v} AS \"Status\""))}) AS s
                WHERE NOT EXISTS (SELECT 1 FROM "JobTargetCounts" AS c WHERE c."JobId" = j."Id" AND c."Status" = s."Status");
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "JobTargetCounts");
        }
    }
}
