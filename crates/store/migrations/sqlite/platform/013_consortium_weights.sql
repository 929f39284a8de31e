-- 費用按分 per consortium (issue 17 §5): the weights of equal share, population and usage its
-- members agreed on, as E:P:U (domain::allocation::Weights); the statement of a consortium uses
-- them unless told otherwise.
ALTER TABLE consortia ADD COLUMN cost_weights TEXT NOT NULL DEFAULT '1:0:0';
