-- 外字 (issue 16 §8): a tenant's mapping of the private-use code points its data uses to their
-- MJ文字図形名 and a fallback character. Replaced whole at each upload.
CREATE TABLE gaiji (
    tenant_id TEXT NOT NULL,
    code_point INTEGER NOT NULL,
    mj_name TEXT NOT NULL,
    fallback TEXT NOT NULL,
    PRIMARY KEY (tenant_id, code_point)
);
