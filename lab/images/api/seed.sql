-- Lab seed of the O4O platform database: users, products and orders with foreign
-- keys, a few thousand rows, deterministic so that row counts can be asserted.
CREATE ROLE o4o LOGIN PASSWORD :'db_password';
CREATE DATABASE o4o_platform OWNER o4o;
\connect o4o_platform
SET ROLE o4o;

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    name          text NOT NULL,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE products (
    id         bigserial PRIMARY KEY,
    sku        text NOT NULL UNIQUE,
    name       text NOT NULL,
    price      numeric(10, 2) NOT NULL CHECK (price >= 0),
    stock      integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE orders (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    product_id bigint NOT NULL REFERENCES products (id),
    quantity   integer NOT NULL CHECK (quantity > 0),
    total      numeric(12, 2) NOT NULL,
    status     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_user_id_idx ON orders (user_id);
CREATE INDEX orders_product_id_idx ON orders (product_id);

-- Every lab user's password is "o4o-lab-<id>"; admin@neture.co.kr is user 1.
INSERT INTO users (email, name, password_hash)
SELECT CASE WHEN i = 1 THEN 'admin@neture.co.kr' ELSE format('user%s@example.com', i) END,
       format('User %s', i),
       encode(sha256(convert_to(format('o4o:o4o-lab-%s', i), 'UTF8')), 'hex')
FROM generate_series(1, 2000) AS i;

INSERT INTO products (sku, name, price, stock)
SELECT format('SKU-%s', lpad(i::text, 5, '0')), format('Product %s', i),
       (i % 97) * 1.25 + 0.99, (i * 7) % 300
FROM generate_series(1, 500) AS i;

INSERT INTO orders (user_id, product_id, quantity, total, status)
SELECT (i % 2000) + 1, (i % 500) + 1, (i % 5) + 1,
       ((i % 5) + 1) * (((i % 500) + 1) % 97 * 1.25 + 0.99),
       (ARRAY['paid', 'shipped', 'delivered', 'cancelled'])[(i % 4) + 1]
FROM generate_series(1, 10000) AS i;
